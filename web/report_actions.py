"""An agent's one-click actions on a report: place it, assign it, answer the citizen, preview a status notice."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, url_for

from web.common import cfg as _cfg
from web.common import report_or_404 as _report
from web.common import res as _res

bp = Blueprint("actions", __name__)





def _back(number: str, anchor: str = "") -> Any:
    return redirect(url_for("queue.report", number=number) + anchor), 303


def _coordinate(name: str) -> float | None:
    raw = (request.form.get(name) or "").strip().replace(",", ".")
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ValueError("coordonnées illisibles : placez le point sur la carte") from None


@bp.post("/signalements/<number>/position")
def place(number: str) -> Any:
    """Move the pin, or type an address that is geocoded; the former position is kept as a correction."""
    from intake.reports.placement import place_by_agent
    from web.common import current_actor

    understanding = _res().understanding()  # loaded before any session: it may read the address reference
    try:
        lat, lon = _coordinate("lat"), _coordinate("lon")
        with _res().factory() as session, session.begin():
            rep = _report(session, number)
            address = request.form.get("adresse")
            use_point = lat is not None and lon is not None and request.form.get("mode") != "adresse"
            label = place_by_agent(session, _cfg(), understanding, rep,
                                   lat=lat if use_point else None, lon=lon if use_point else None,
                                   address=address, actor=current_actor())
    except ValueError as exc:
        flash(f"Position non enregistrée : {exc}.", "erreur")
        return _back(number, "#position")
    flash(f"Position enregistrée{' : ' + label if label else ''}.", "info")
    return _back(number, "#position")


@bp.post("/signalements/<number>/attribution")
def assign(number: str) -> Any:
    """Give the report to an agent of its service (or nobody)."""
    from intake.reports.assignment import assign as do_assign
    from web.common import current_actor

    raw = request.form.get("agent") or ""
    try:
        user_id = int(raw) if raw else None
    except ValueError:
        user_id = -1
    try:
        with _res().factory() as session, session.begin():
            user = do_assign(session, _report(session, number), user_id, actor=current_actor())
            name = user.display_name if user else None
    except ValueError as exc:
        flash(f"Attribution impossible : {exc}.", "erreur")
        return _back(number)
    flash(f"Attribué à {name}." if name else "Le signalement n'est plus attribué.", "info")
    return _back(number)


@bp.post("/signalements/<number>/reponse")
def reply(number: str) -> Any:
    """Answer the citizen on their channel; the message leaves through the outbox."""
    from intake.reports.replies import reply_to_citizen
    from web.common import current_actor, send_soon

    try:
        with _res().factory() as session, session.begin():
            ids = reply_to_citizen(session, _cfg(), _report(session, number), request.form.get("texte") or "",
                                   actor=current_actor())
    except ValueError as exc:
        flash(f"Réponse non envoyée : {exc}.", "erreur")
        return _back(number, "#reponse")
    send_soon(ids)
    flash(f"Réponse en cours d'envoi ({len(ids)} destinataire(s)).", "info")
    return _back(number, "#reponse")


@bp.post("/signalements/<number>/statut/apercu")
def preview_status(number: str) -> Any:
    """Show the report page with the messages a status change would send, before confirming it."""
    from intake.reports.statuses import STATUSES, check_reason, render_notices
    from web.queue import report as report_page

    status = request.form.get("statut", "")
    reason = request.form.get("motif") or None
    note = (request.form.get("note") or "").strip()[:1000] or None
    try:
        if status not in STATUSES:
            raise ValueError(f"Statut inconnu : {status[:40]}.")
        reason = check_reason(_cfg(), status, reason)
        with _res().factory() as session:
            notices = render_notices(session, _cfg(), _report(session, number), status, note=note, reason=reason)
            preview = {"status": status, "reason": reason, "note": note or "",
                       "notices": [{"channel": n.channel, "recipient": n.recipient, "subject": n.subject,
                                    "body": n.body} for n in notices]}
    except ValueError as exc:
        flash(str(exc), "erreur")
        return _back(number)
    return report_page(number, preview=preview)
