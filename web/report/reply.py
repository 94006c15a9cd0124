"""Answering the citizen from the report's page, on their own channel, through the outbox."""

from __future__ import annotations

from typing import Any

from flask import flash, request

from intake.reports.replies import reply_to_citizen
from web.common import cfg, current_actor, report_or_404, res, send_soon
from web.report.blueprint import back, bp


@bp.post("/signalements/<number>/reponse")
def reply(number: str) -> Any:
    """Answer the citizen on their channel; the message leaves through the outbox."""
    try:
        with res().factory() as session, session.begin():
            ids = reply_to_citizen(
                session, cfg(), report_or_404(session, number), request.form.get("texte") or "", actor=current_actor()
            )
    except ValueError as exc:
        flash(f"Réponse non envoyée : {exc}.", "erreur")
        return back(number, "#reponse")
    send_soon(ids)
    flash(f"Réponse en cours d'envoi ({len(ids)} destinataire(s)).", "info")
    return back(number, "#reponse")
