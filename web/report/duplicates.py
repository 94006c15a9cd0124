"""Duplicates from the report's page: detach a wrong match, merge two reports by hand.

An agent only acts between reports of their service (both ends, and the main report a target leads to, are
checked by `intake/reports/dedupe.py`)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for

from intake.reports.dedupe import merge, unlink
from intake.reports.statuses import change_status, duplicates
from intake.reports.tracking import find_tracking_numbers, report_by_number
from web.common import agent_service, cfg, current_actor, res, send_soon
from web.report.blueprint import bp


def _back(default: str) -> Any:
    """Back to the page the agent came from (a report number posted with the form), else `default`."""
    numbers = find_tracking_numbers(request.form.get("retour", ""))
    return redirect(url_for("report.page", number=numbers[0] if numbers else default)), 303


@bp.post("/signalements/<number>/detacher")
def detach(number: str) -> Any:
    """Make a duplicate a report of its own again (a wrong match); its status stays as it is."""
    with res().factory() as session, session.begin():
        rep = report_by_number(session, number)
        if rep is None:
            abort(404)
        try:
            main = unlink(session, rep, current_actor(), service=agent_service())
        except ValueError as exc:
            flash(f"Détachement impossible : {exc}.", "erreur")
            return _back(number)
    if main is None:
        flash(f"Le signalement n° {number} n'est lié à aucun autre.", "erreur")
    else:
        flash(f"Le signalement n° {number} est détaché du n° {main.tracking_number} : il est traité à part.", "info")
    return _back(number)


@bp.post("/signalements/<number>/fusionner")
def merge_into(number: str) -> Any:
    """This report becomes a duplicate of the one the agent names, and takes its status.

    Its reporters are then told of that status like the other reporters (once per status and person).
    """
    config = cfg()
    typed = request.form.get("cible", "").strip()
    found = find_tracking_numbers(typed)
    if not found:
        flash(f"« {typed[:40]} » n'est pas un numéro de signalement (forme attendue : 2026-00042).", "erreur")
        return _back(number)
    with res().factory() as session, session.begin():
        rep = report_by_number(session, number)
        if rep is None:
            abort(404)
        target = report_by_number(session, found[0])
        if target is None:
            flash(f"Aucun signalement n° {found[0]}.", "erreur")
            return _back(number)
        moved = [rep, *duplicates(session, rep)]  # its own duplicates follow it to the new main report
        try:
            main = merge(session, rep, target, current_actor(), service=agent_service())
        except ValueError as exc:
            flash(f"Fusion impossible : {exc}.", "erreur")
            return _back(number)
        outbox_ids: list[int] = []
        for row in moved:
            try:
                outbox_ids += change_status(
                    session, config, row, main.status, actor=current_actor(), reason=main.status_reason
                )
            except ValueError:  # a main rejected without a known reason: the duplicate keeps its status
                pass
        main_number = main.tracking_number
    send_soon(outbox_ids)
    flash(
        f"Le signalement n° {number} est fusionné avec le n° {main_number} (il en devient un doublon)."
        + (f" {len(outbox_ids)} message(s) aux citoyens en cours d'envoi." if outbox_ids else ""),
        "info",
    )
    return redirect(url_for("report.page", number=main_number)), 303
