"""Minimal back office: the report queue, one report with its messages and photos, files, public page."""

from __future__ import annotations

import io
import re
from typing import Any

from flask import Blueprint, abort, current_app, make_response, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from intake.geocoding.precision import describe, note
from intake.models import Attachment, Event, RawMessage, Report, ReportMessage
from intake.reports.public import tracking_page
from web.common import current_actor, report_or_404, send_soon
from web.common import res as _res

bp = Blueprint("queue", __name__)
PAGE = 50
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")



def _scope() -> str | None:
    """The service an agent is limited to (None: accueil and administrators see every report)."""
    from web.auth import current_agent

    agent = current_agent()
    return agent.service if agent is not None and agent.role == "agent" else None


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
    scope = _scope()
    with _res().factory() as session:
        page = list_reports(session, cfg, flt, service_scope=scope, before=_cursor("avant"), after=_cursor("apres"))
        failed = 0 if scope else session.execute(
            select(func.count()).select_from(RawMessage).where(RawMessage.status == "failed")).scalar_one()
    services = [(s.code, s.name) for s in cfg.services if scope is None or s.code == scope]
    from web.selection import allowed, assignable_users

    role = getattr(current_user, "role", "")
    return render_template("queue.html", page=page, flt=flt, args=flt.args(), failed=failed, scope=scope,
                           services=services, channels=CHANNELS, first_page=not request.args.get("avant")
                           and not request.args.get("apres"),
                           bulk={a: allowed(a, role) for a in ("attribuer", "service", "statut", "exporter")},
                           assignable=assignable_users(scope) if allowed("attribuer", role) else [])


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
    scope = _scope()
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
        flash(f"{len(outcome.done)} signalement(s) {bulk.VERBS[action]} : {', '.join(outcome.done)}."
              + (f" {len(outcome.outbox_ids)} message(s) en cours d'envoi." if outcome.outbox_ids else ""), "info")
    if outcome.refused:
        flash("Non modifié(s) : " + " ; ".join(f"{n} ({why})" for n, why in outcome.refused) + ".", "erreur")
    return back


@bp.get("/signalements/<number>")
def report(number: str, preview: dict[str, Any] | None = None) -> str:
    """One report: its messages as received, photos, position and history; `preview` shows a status notice."""
    from intake.reports.assignment import assignable
    from intake.reports.statuses import reporters_of

    centre = _centre()  # may load the addresses: never inside the session below (SQLite's single writer)
    with _res().factory() as session:
        rep = session.execute(
            select(Report).where(Report.tracking_number == number).options(
                selectinload(Report.messages).selectinload(ReportMessage.raw),
                selectinload(Report.attachments), selectinload(Report.events), selectinload(Report.author),
            )
        ).scalar_one_or_none()
        if rep is None:
            abort(404)
        from intake.channels.registry import PHRASES as CHANNEL_LABELS
        from intake.reports.statuses import duplicates

        linked = duplicates(session, rep)
        main = session.get(Report, rep.duplicate_of_id) if rep.duplicate_of_id else None
        channels = list(dict.fromkeys(CHANNEL_LABELS.get(r.channel, r.channel) for r in (rep, *linked)))
        users = assignable(session, rep)
        assignee = next((u.display_name for u in users if u.id == rep.assignee_id), None)
        replies_to = reporters_of(session, current_app.config["GUICHET"], rep)
        return render_template("report.html", report=rep, safe_html=_safe_html, linked=linked, main=main,
                               channels=channels, channel_labels=CHANNEL_LABELS, preview=preview,
                               assignable=[(u.id, u.display_name) for u in users], assignee=assignee,
                               replies_to=replies_to, centre=centre, address=describe(rep),
                               position_note=note(rep))


def _centre() -> tuple[float, float]:
    """Where maps open: the middle of the commune's addresses."""
    state = current_app.extensions.setdefault("guichet_centre", {})
    if "centre" not in state:
        streets = _res().understanding().local.streets()
        state["centre"] = ((sum(s.lat for s in streets) / len(streets), sum(s.lon for s in streets) / len(streets))
                           if streets else (46.6, 2.4))
    centre: tuple[float, float] = state["centre"]
    return centre


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
    return send_file(io.BytesIO(data), mimetype=mime)  # never cached: web.security says "private, no-store"


@bp.post("/signalements/<number>/categorie")
def change_category(number: str) -> Any:
    """An agent confirms or changes the category; the correction is kept for `guichet train`."""
    from flask import flash, redirect, url_for

    from intake.reports.corrections import reclassify

    category = request.form.get("categorie", "")
    with _res().factory() as session, session.begin():
        rep = report_or_404(session, number)
        try:
            reclassify(session, current_app.config["GUICHET"], rep, category, actor=current_actor())
        except ValueError as exc:
            flash(str(exc), "erreur")
            return redirect(url_for("queue.report", number=number)), 303
    flash("Catégorie enregistrée.", "info")
    return redirect(url_for("queue.report", number=number)), 303


@bp.post("/signalements/<number>/statut")
def change_status_view(number: str) -> Any:
    """An agent changes the status (a reason is required to reject); citizens are told per `statuses.notify`."""
    from flask import flash, redirect, url_for

    from intake.reports.statuses import change_status, duplicates

    cfg = current_app.config["GUICHET"]
    status = request.form.get("statut", "")
    reason = request.form.get("motif") or None
    note = (request.form.get("note") or "").strip()[:1000] or None
    with _res().factory() as session, session.begin():
        rep = report_or_404(session, number)
        unchanged = rep.status == status and (status != "rejete" or rep.status_reason == reason)
        try:
            outbox_ids = change_status(session, cfg, rep, status, actor=current_actor(), note=note, reason=reason)
        except ValueError as exc:
            flash(str(exc), "erreur")
            return redirect(url_for("queue.report", number=number)), 303
        following = len(duplicates(session, rep))
    send_soon(outbox_ids)
    if unchanged:
        flash(f"Le signalement est déjà au statut « {cfg.statuses.label(status)} ».", "info")
    else:
        flash(f"Statut « {cfg.statuses.label(status)} » enregistré."
              + (f" Les {following} doublon(s) suivent ce statut." if following else "")
              + (f" {len(outbox_ids)} message(s) aux citoyens en cours d'envoi." if outbox_ids else ""), "info")
    return redirect(url_for("queue.report", number=number)), 303


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
            after = list(session.execute(
                select(Event.id).join(Report, Report.id == Event.report_id)
                .where(Report.public_token == token, Event.action == "field_photo").order_by(Event.id)).scalars())
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
        session.execute(select(1))
    return {"status": "ok"}
