"""A report's status from its page: preview what every citizen will be told, then change it."""

from __future__ import annotations

from typing import Any

from flask import flash, request

from intake.reports.statuses import STATUSES, change_status, check_reason, duplicates, render_notices
from web.common import cfg, current_actor, report_or_404, res, send_soon
from web.report.blueprint import back, bp


def _note() -> str | None:
    return (request.form.get("note") or "").strip()[:1000] or None


@bp.post("/signalements/<number>/statut", endpoint="change_status")
def change_status_view(number: str) -> Any:
    """An agent changes the status (a reason is required to reject); citizens are told per `statuses.notify`."""
    config = cfg()
    status = request.form.get("statut", "")
    reason = request.form.get("motif") or None
    with res().factory() as session, session.begin():
        rep = report_or_404(session, number)
        unchanged = rep.status == status and (status != "rejete" or rep.status_reason == reason)
        try:
            outbox_ids = change_status(session, config, rep, status, actor=current_actor(), note=_note(), reason=reason)
        except ValueError as exc:
            flash(str(exc), "erreur")
            return back(number)
        following = len(duplicates(session, rep))
    send_soon(outbox_ids)
    if unchanged:
        flash(f"Le signalement est déjà au statut « {config.statuses.label(status)} ».", "info")
    else:
        flash(
            f"Statut « {config.statuses.label(status)} » enregistré."
            + (f" Les {following} doublon(s) suivent ce statut." if following else "")
            + (f" {len(outbox_ids)} message(s) aux citoyens en cours d'envoi." if outbox_ids else ""),
            "info",
        )
    return back(number)


@bp.post("/signalements/<number>/statut/apercu")
def preview_status(number: str) -> Any:
    """Show the report page with the messages a status change would send, before confirming it."""
    from web.report.page import page

    status = request.form.get("statut", "")
    reason = request.form.get("motif") or None
    note = _note()
    try:
        if status not in STATUSES:
            raise ValueError(f"Statut inconnu : {status[:40]}.")
        reason = check_reason(cfg(), status, reason)
        with res().factory() as session:
            notices = render_notices(session, cfg(), report_or_404(session, number), status, note=note, reason=reason)
            preview = {
                "status": status,
                "reason": reason,
                "note": note or "",
                "notices": [
                    {"channel": n.channel, "recipient": n.recipient, "subject": n.subject, "body": n.body}
                    for n in notices
                ],
            }
    except ValueError as exc:
        flash(str(exc), "erreur")
        return back(number)
    return page(number, preview=preview)
