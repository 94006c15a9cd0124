"""Agents re-route a report to another service from its page; the change is recorded and the referents told."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, request, url_for

from intake.config import ConfigError
from intake.reports.routing import reroute
from intake.reports.zones import zones_for
from web.common import cfg as _cfg
from web.common import current_actor, report_or_404, send_soon
from web.common import res as _res

bp = Blueprint("routing", __name__)


def _zone_label(code: str | None) -> str | None:
    """The name of a zone; its code when the zones file cannot be read any more (the page still shows)."""
    if not code:
        return None
    try:
        zones = zones_for(_cfg())
    except ConfigError:
        current_app.logger.exception("zones file unreadable for the report page")
        return code
    return zones.name(code) if zones is not None else code


@bp.app_context_processor
def _routing_globals() -> dict[str, Any]:
    """What the service form shows: the services to choose from, their names and the zones' names."""
    cfg = _cfg()
    return {"routing_services": [(s.code, s.name) for s in cfg.services],
            "service_label": lambda code: getattr(cfg.service(code), "name", code),
            "zone_label": _zone_label}


@bp.post("/signalements/<number>/service")
def change_service(number: str) -> Any:
    """Send the report to another service, with an optional note; unknown services are refused in French."""
    cfg = _cfg()
    code = (request.form.get("service") or "").strip()
    note = (request.form.get("note_service") or "").strip()[:1000] or None
    target = cfg.service(code)
    back = redirect(url_for("queue.report", number=number)), 303
    with _res().factory() as session, session.begin():
        rep = report_or_404(session, number)
        if target is None:
            flash(f"Service inconnu : « {code[:60] or '(aucun)'} ». Choisissez un service de la liste.", "erreur")
            return back
        if rep.service == target.code:
            flash(f"Le signalement est déjà affecté au service « {target.name} ».", "info")
            return back
        outbox_ids = reroute(session, cfg, rep, target.code, actor=current_actor(), note=note)
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
    return back
