"""Qualifying a report from its page: confirm or change its category, send it to another service."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, request

from intake.config import ConfigError
from intake.reports.corrections import reclassify
from intake.reports.routing import reroute
from intake.reports.zones import zones_for
from web.common import cfg, current_actor, report_or_404, res, send_soon
from web.report.blueprint import back, bp


@bp.post("/signalements/<number>/categorie")
def change_category(number: str) -> Any:
    """An agent confirms or changes the category; the correction is kept for `guichet train`."""
    category = request.form.get("categorie", "")
    with res().factory() as session, session.begin():
        rep = report_or_404(session, number)
        try:
            reclassify(session, cfg(), rep, category, actor=current_actor())
        except ValueError as exc:
            flash(str(exc), "erreur")
            return back(number)
    flash("Catégorie enregistrée.", "info")
    return back(number)


def _zone_label(code: str | None) -> str | None:
    """The name of a zone; its code when the zones file cannot be read any more (the page still shows)."""
    if not code:
        return None
    try:
        zones = zones_for(cfg())
    except ConfigError:
        current_app.logger.exception("zones file unreadable for the report page")
        return code
    return zones.name(code) if zones is not None else code


@bp.app_context_processor
def _routing_globals() -> dict[str, Any]:
    """What the service form shows: the services to choose from, their names and the zones' names."""
    config = cfg()
    return {
        "routing_services": [(s.code, s.name) for s in config.services],
        "service_label": lambda code: getattr(config.service(code), "name", code),
        "zone_label": _zone_label,
    }


@bp.post("/signalements/<number>/service")
def change_service(number: str) -> Any:
    """Send the report to another service, with an optional note; unknown services are refused in French.

    The change is recorded and the new service's referents are told (now, or in their daily digest)."""
    config = cfg()
    code = (request.form.get("service") or "").strip()
    note = (request.form.get("note_service") or "").strip()[:1000] or None
    target = config.service(code)
    with res().factory() as session, session.begin():
        rep = report_or_404(session, number)
        if target is None:
            flash(f"Service inconnu : « {code[:60] or '(aucun)'} ». Choisissez un service de la liste.", "erreur")
            return back(number)
        if rep.service == target.code:
            flash(f"Le signalement est déjà affecté au service « {target.name} ».", "info")
            return back(number)
        outbox_ids = reroute(session, config, rep, target.code, actor=current_actor(), note=note)
        waiting = target.notify == "digest" and rep.status in ("transmis", "en_cours")
        with_service = rep.status in ("transmis", "en_cours")
    send_soon(outbox_ids)
    if outbox_ids:
        told = f" {len(outbox_ids)} message(s) aux référents en cours d'envoi."
    elif waiting:
        told = " Ses référents le verront dans leur récapitulatif quotidien."
    elif not with_service:
        told = " Ses référents seront prévenus quand le signalement sera transmis."
    else:
        told = ""
    flash(f"Signalement réaffecté au service « {target.name} ».{told}", "info")
    return back(number)
