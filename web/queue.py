"""The report queue (filters, counts, actions on a selection), the messages that failed, files, the public
tracking page and liveness. One report's page and its actions are in web/report/."""

from __future__ import annotations

import io
import re
from typing import Any

from flask import Blueprint, abort, current_app, make_response, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from intake.backoffice.health import database_answers, failed_count, unprocessed_messages
from intake.models import Attachment
from intake.reports.public import after_photo_events, tracking_page
from web.common import agent_service, send_soon
from web.common import res as _res

bp = Blueprint("queue", __name__)
PAGE = 50
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _cursor(name: str) -> int | None:
    raw = request.args.get(name) or ""
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


@bp.get("/")
def index() -> str:
    """The queue: every report whatever its door, newest first, filters, counts per status, keyset pages."""
    from intake.backoffice.filters import CHANNELS, parse_filter
    from intake.backoffice.listing import list_reports

    cfg = current_app.config["GUICHET"]
    flt = parse_filter(request.args, cfg)
    scope = agent_service()
    with _res().factory() as session:
        page = list_reports(session, cfg, flt, service_scope=scope, before=_cursor("avant"), after=_cursor("apres"))
        failed = 0 if scope else failed_count(session)
    services = [(s.code, s.name) for s in cfg.services if scope is None or s.code == scope]
    from web.selection import allowed, assignable_users

    role = getattr(current_user, "role", "")
    return render_template(
        "queue.html",
        page=page,
        flt=flt,
        args=flt.args(),
        failed=failed,
        scope=scope,
        services=services,
        channels=CHANNELS,
        first_page=not request.args.get("avant") and not request.args.get("apres"),
        bulk={a: allowed(a, role) for a in ("attribuer", "service", "statut", "exporter")},
        assignable=assignable_users(scope) if allowed("attribuer", role) else [],
    )


@bp.post("/selection")
def selection() -> Any:
    """An action on the reports ticked in the queue: the single action's code, roles and service checks, one
    audit entry per report; a status change can be previewed first (what citizens will be told)."""
    from flask import flash, redirect

    from web import selection as bulk

    action = request.form.get("action", "")
    numbers = bulk.selected_numbers(request.form)
    retour = request.form.get("retour") or ""
    back = redirect(retour if retour.startswith("/?") else url_for("queue.index")), 303
    if action not in bulk.ENDPOINTS:
        flash("Action inconnue : choisissez une action de la liste.", "erreur")
        return back
    if not bulk.allowed(action, current_user.role):
        flash("Votre rôle ne permet pas cette action.", "erreur")
        return back
    if not numbers:
        flash("Aucun signalement sélectionné : cochez des signalements de la file.", "erreur")
        return back
    if action == "exporter":
        return redirect(url_for("exports.csv", n=numbers, doublons="inclus")), 303
    scope = agent_service()
    if action == "statut" and request.form.get("apercu"):
        try:
            preview = bulk.preview(numbers, request.form, scope)
        except ValueError as exc:
            flash(str(exc), "erreur")
            return back
        return render_template("selection_preview.html", preview=preview, retour=request.form.get("retour", ""))
    outcome = bulk.apply(action, numbers, request.form, scope)
    send_soon(outcome.outbox_ids)
    if outcome.done:
        flash(
            f"{len(outcome.done)} signalement(s) {bulk.VERBS[action]} : {', '.join(outcome.done)}."
            + (f" {len(outcome.outbox_ids)} message(s) en cours d'envoi." if outcome.outbox_ids else ""),
            "info",
        )
    if outcome.refused:
        flash("Non modifié(s) : " + " ; ".join(f"{n} ({why})" for n, why in outcome.refused) + ".", "erreur")
    return back


@bp.get("/messages-en-echec")
def failed() -> str:
    """Raw messages that could not be processed, with their reason (retry with `guichet retry`)."""
    with _res().factory() as session:
        rows = unprocessed_messages(session, limit=200)
    return render_template("failed.html", rows=rows)


@bp.get("/fichiers/<int:attachment_id>/<kind>")
def attachment(attachment_id: int, kind: str) -> Any:
    """Serve an attachment: originals as downloads, images only as stripped copies or thumbnails, a voicemail's
    recording to the page's player when its bytes are audio."""
    with _res().factory() as session:
        att = session.get(Attachment, attachment_id)
    if att is None or kind not in {"original", "image", "miniature", "audio"}:
        abort(404)
    store = _res().file_store
    if kind == "audio":
        data = store.read(att.sha256)
        mime = audio_type(data)
        if mime is None:
            abort(404)
        return send_file(io.BytesIO(data), mimetype=mime)
    if kind == "original":
        name = _SAFE_NAME.sub("_", att.filename).strip("._") or "piece-jointe"
        return send_file(
            store.path(att.sha256), mimetype="application/octet-stream", as_attachment=True, download_name=name
        )
    digest = att.served_sha256 if kind == "image" else att.thumb_sha256
    if not digest:
        abort(404)
    data = store.read(digest)
    mime = "image/png" if data[:4] == b"\x89PNG" else "image/jpeg"
    return send_file(io.BytesIO(data), mimetype=mime)  # never cached: web.security says "private, no-store"


def audio_type(data: bytes) -> str | None:
    """The audio type the bytes themselves show (MP3 or WAV), never the type a sender declared."""
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    return None


@bp.get("/suivi/<token>")
def public_status(token: str) -> ResponseReturnValue:
    """Public status page of a report (unguessable URL): what, where, which service, each status and when.

    Nothing personal: no name, contact, message text, agent's note or photo, the reference street only (never an
    address typed by a person); never cached, never indexed.
    """
    with _res().factory() as session:
        cfg = current_app.config["GUICHET"]
        page = tracking_page(session, cfg, token)
        after: list[int] = []
        if page is not None and cfg.web.public_after_photo:  # the technicians' photos after the work, if the town wants
            after = after_photo_events(session, token)
    if page is None:
        abort(404)
    after_photos = [url_for("field.public_photo", token=token, event_id=i) for i in after]
    response = make_response(render_template("public_status.html", page=page, after_photos=after_photos))
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@bp.get("/sante")
def health() -> dict[str, Any]:
    """Liveness for the town's monitoring: the database answers."""
    with _res().factory() as session:
        database_answers(session)
    return {"status": "ok"}
