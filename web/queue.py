"""Minimal back office: the report queue, one report with its messages and photos, files, public page."""

from __future__ import annotations

import io
import re
from typing import Any

from flask import Blueprint, abort, current_app, render_template, request, send_file
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from intake.models import Attachment, RawMessage, Report, ReportMessage

bp = Blueprint("queue", __name__)
PAGE = 50
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _res() -> Any:
    return current_app.extensions["guichet"]


@bp.get("/")
def index() -> str:
    """The queue: every report, newest first, with counts per status."""
    page = max(1, request.args.get("page", 1, type=int) or 1)
    status = request.args.get("statut") or None
    with _res().factory() as session:
        query = select(Report).options(selectinload(Report.author)).order_by(Report.id.desc())
        if status:
            query = query.where(Report.status == status)
        reports = list(session.execute(query.limit(PAGE).offset((page - 1) * PAGE)).scalars())
        counts = dict(session.execute(select(Report.status, func.count()).group_by(Report.status)).all())
        failed = session.execute(
            select(func.count()).select_from(RawMessage).where(RawMessage.status == "failed")
        ).scalar_one()
    return render_template("queue.html", reports=reports, counts=counts, page=page, status=status,
                           failed=failed, has_next=len(reports) == PAGE)


@bp.get("/signalements/<number>")
def report(number: str) -> str:
    """One report: its messages as received, photos, position and history."""
    with _res().factory() as session:
        rep = session.execute(
            select(Report).where(Report.tracking_number == number).options(
                selectinload(Report.messages).selectinload(ReportMessage.raw),
                selectinload(Report.attachments), selectinload(Report.events), selectinload(Report.author),
            )
        ).scalar_one_or_none()
        if rep is None:
            abort(404)
        return render_template("report.html", report=rep, safe_html=_safe_html)


@bp.get("/messages-en-echec")
def failed() -> str:
    """Raw messages that could not be processed, with their reason (retry with `guichet retry`)."""
    with _res().factory() as session:
        rows = list(session.execute(
            select(RawMessage.id, RawMessage.channel, RawMessage.source, RawMessage.received_at,
                   RawMessage.status, RawMessage.error)
            .where(RawMessage.status.in_(("failed", "discarded", "held"))).order_by(RawMessage.id.desc()).limit(200)
        ).all())
    return render_template("failed.html", rows=rows)


def _safe_html(html: str | None) -> Markup:
    import nh3

    return Markup(nh3.clean(html or "", tags={"p", "br", "div", "span", "b", "i", "strong", "em", "ul", "ol", "li",
                                              "blockquote", "table", "tr", "td", "th", "tbody", "thead"},
                            attributes={}, url_schemes=set()))


@bp.get("/fichiers/<int:attachment_id>/<kind>")
def attachment(attachment_id: int, kind: str) -> Any:
    """Serve an attachment: originals as downloads, images only as stripped copies or thumbnails."""
    with _res().factory() as session:
        att = session.get(Attachment, attachment_id)
    if att is None or kind not in {"original", "image", "miniature"}:
        abort(404)
    store = _res().file_store
    if kind == "original":
        name = _SAFE_NAME.sub("_", att.filename).strip("._") or "piece-jointe"
        return send_file(store.path(att.sha256), mimetype="application/octet-stream", as_attachment=True,
                         download_name=name)
    digest = att.served_sha256 if kind == "image" else att.thumb_sha256
    if not digest:
        abort(404)
    data = store.read(digest)
    mime = "image/png" if data[:4] == b"\x89PNG" else "image/jpeg"
    return send_file(io.BytesIO(data), mimetype=mime, max_age=86400)


@bp.post("/signalements/<number>/categorie")
def change_category(number: str) -> Any:
    """An agent confirms or changes the category; the correction is kept for `guichet train`."""
    from flask import flash, redirect, url_for

    from intake.corrections import reclassify

    category = request.form.get("categorie", "")
    with _res().factory() as session, session.begin():
        rep = session.execute(select(Report).where(Report.tracking_number == number)).scalar_one_or_none()
        if rep is None:
            abort(404)
        try:
            reclassify(session, current_app.config["GUICHET"], rep, category, actor="back-office")
        except ValueError as exc:
            flash(str(exc), "erreur")
            return redirect(url_for("queue.report", number=number)), 303
    flash("Catégorie enregistrée.", "info")
    return redirect(url_for("queue.report", number=number)), 303


@bp.post("/signalements/<number>/statut")
def change_status_view(number: str) -> Any:
    """An agent changes the status; the citizens are told when it calls for it (resolved)."""
    from flask import flash, redirect, url_for

    from intake.statuses import change_status

    status = request.form.get("statut", "")
    note = (request.form.get("note") or "").strip()[:1000] or None
    with _res().factory() as session, session.begin():
        rep = session.execute(select(Report).where(Report.tracking_number == number)).scalar_one_or_none()
        if rep is None:
            abort(404)
        try:
            outbox_ids = change_status(session, current_app.config["GUICHET"], rep, status, actor="back-office",
                                       note=note)
        except ValueError as exc:
            flash(str(exc), "erreur")
            return redirect(url_for("queue.report", number=number)), 303
    _send_soon(outbox_ids)
    flash("Statut enregistré." + (f" {len(outbox_ids)} message(s) au citoyen en cours d'envoi." if outbox_ids else ""),
          "info")
    return redirect(url_for("queue.report", number=number)), 303


def _send_soon(outbox_ids: list[int]) -> None:
    """Queue the notifications; without Redis the sweeper sends them within a minute or two."""
    cfg = current_app.config["GUICHET"]
    if not outbox_ids or not cfg.redis_url:
        return
    try:
        from intake.queue import enqueue_send, get_queue, redis_connection

        queue = get_queue(redis_connection(cfg))
        for outbox_id in outbox_ids:
            enqueue_send(queue, outbox_id, timeout=cfg.worker.job_timeout)
    except Exception:  # the rows are committed: the sweeper will send them
        current_app.logger.exception("notifications %s not queued", outbox_ids)


@bp.get("/suivi/<token>")
def public_status(token: str) -> str:
    """Public status page of a report (unguessable URL, no personal data)."""
    with _res().factory() as session:
        rep = session.execute(select(Report).where(Report.public_token == token)).scalar_one_or_none()
    if rep is None:
        abort(404)
    return render_template("public_status.html", report=rep)


@bp.get("/sante")
def health() -> dict[str, Any]:
    """Liveness for the town's monitoring: the database answers."""
    with _res().factory() as session:
        session.execute(select(1))
    return {"status": "ok"}
