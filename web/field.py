"""The field pages, phone-sized: a technician's work orders, one work order, and the visit's photo, note and status.

Reached from the work order's QR code or the referents' email (`/terrain/<number>`). Technicians (and agents) see
the reports of their service only: the number in the URL is checked by web/access.py like every report URL.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from sqlalchemy.orm import Session

from intake.backoffice.reportpage import open_work_orders, report_for_field
from intake.geocoding.precision import describe
from intake.models import Event
from intake.reports.tracking import report_by_token
from web.common import cfg as _cfg
from web.common import current_actor, report_or_404, send_soon
from web.common import res as _res

bp = Blueprint("field", __name__)
OPEN_WORK = ("transmis", "en_cours")
LIST_LIMIT = 100


def _scope() -> str | None:
    from web.auth import current_agent

    agent = current_agent()
    return agent.service if agent is not None and agent.role in ("agent", "technicien") else None


@bp.get("/terrain")
def index() -> str:
    """The open work orders of the technician's service (transmitted or in progress), newest first."""
    scope = _scope()
    with _res().factory() as session:
        reports = open_work_orders(session, OPEN_WORK, service=scope, limit=LIST_LIMIT)
    return render_template("field_index.html", reports=reports, scope=scope)


@bp.get("/terrain/<number>")
def page(number: str) -> str:
    """One work order for the phone: where, what, the citizen's photos, and the form of the visit."""
    from intake.masking import mask_contacts
    from intake.outbox.workorder import HISTORY, nearby_addresses, nearest_address

    cfg = _cfg()
    with _res().factory() as session:
        rep = report_for_field(session, number[:16])
        if rep is None:
            abort(404)
        description = mask_contacts(rep.description or rep.subject or "", region=cfg.town.phone_region)
        address = describe(rep)
        if not address and rep.lat is not None and rep.lon is not None:
            near = nearest_address(nearby_addresses(session, cfg, rep.lat, rep.lon, half_span_m=150), rep.lat, rep.lon)
            address = f"près du {near} (d'après la position)" if near else None
        return render_template(
            "field_page.html",
            report=rep,
            description=description,
            history=HISTORY,
            address=address or "adresse non précisée",
            photos=[a for a in rep.attachments if a.thumb_sha256],
            after=[e for e in rep.events if e.action == "field_photo"],
        )


@bp.post("/terrain/<number>")
def update(number: str) -> Any:
    """Record the visit: a photo after the work, a note, and "en cours" or "résolu" (the citizen is told)."""
    from intake.reports.fieldwork import record_visit, store_photo

    upload = request.files.get("photo")
    back = redirect(url_for("field.page", number=number)), 303
    try:
        photo = None
        if upload is not None and upload.filename:
            photo = store_photo(_res().file_store, upload.read(), upload.filename)
        with _res().factory() as session, session.begin():
            rep = report_or_404(session, number)
            ids = record_visit(
                session,
                _cfg(),
                rep,
                actor=current_actor(),
                photo=photo,
                note=request.form.get("note"),
                status=request.form.get("statut") or None,
            )
            label = _cfg().statuses.label(rep.status)
    except ValueError as exc:
        flash(f"Rien n'a été enregistré : {exc}.", "erreur")
        return back
    send_soon(ids)
    flash(
        f"Intervention enregistrée (statut : {label})."
        + (f" {len(ids)} message(s) aux citoyens en cours d'envoi." if ids else ""),
        "info",
    )
    return back


def _photo_event(session: Session, report_id: int, event_id: int) -> Event:
    event = session.get(Event, event_id)
    if event is None or event.report_id != report_id or event.action != "field_photo":
        abort(404)
    return event


def _send(digest: str) -> Any:
    data = _res().file_store.read(digest)
    return send_file(io.BytesIO(data), mimetype="image/png" if data[:4] == b"\x89PNG" else "image/jpeg")


@bp.get("/terrain/<number>/photos/<int:event_id>/<kind>")
def photo(number: str, event_id: int, kind: str) -> Any:
    """A photo after the work, as its stripped copy ("image") or thumbnail ("miniature"), for the town's staff."""
    if kind not in {"image", "miniature"}:
        abort(404)
    with _res().factory() as session:
        event = _photo_event(session, report_or_404(session, number).id, event_id)
        digest = str(event.detail["served" if kind == "image" else "thumb"])
    return _send(digest)


@bp.get("/suivi/<token>/photo-apres/<int:event_id>")
def public_photo(token: str, event_id: int) -> Any:
    """A photo after the work on the citizen's tracking page, when the town chose to show them (stripped copy)."""
    if not _cfg().web.public_after_photo:
        abort(404)
    with _res().factory() as session:
        rep = report_by_token(session, token[:64])
        if rep is None:
            abort(404)
        digest = str(_photo_event(session, rep.id, event_id).detail["served"])
    return _send(digest)
