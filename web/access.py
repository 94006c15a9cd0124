"""Who may use which route: one table of endpoint × role, enforced before every request, and the audit log.

A route missing from the table is refused to everyone (and a test fails), so a new page cannot be
published by accident. Agents of a service only reach the reports of their service.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from intake.backoffice.reportpage import attachment_owner, report_owner
from intake.models import AuditLog

log = logging.getLogger(__name__)

PUBLIC = "public"  # no sign-in: the citizen's pages, the apps' API and Twilio's signed webhooks
ACCUEIL, AGENT, ADMIN, TECHNICIEN = "accueil", "agent", "admin", "technicien"
EVERYONE = frozenset({ACCUEIL, AGENT, ADMIN})  # the back office (technicians only reach the field pages)
FIELD = frozenset({TECHNICIEN, AGENT, ADMIN})
SCOPED = frozenset({AGENT, TECHNICIEN})  # roles that only reach the reports of their own service
OPEN = frozenset({PUBLIC})

# endpoint -> roles allowed. Reception dispatches (category, service) and types reports in; agents work on the
# reports of their service; administrators do everything.
ROUTES: dict[str, frozenset[str]] = {
    "static": OPEN,
    "auth.login": OPEN,
    "auth.logout": EVERYONE | FIELD,
    "auth.change_password": EVERYONE | FIELD,
    "queue.health": OPEN,
    "queue.public_status": OPEN,
    "notice.page": OPEN,  # the privacy notice (web/notice.py)
    "pin.position": OPEN,
    "pin.save_position": OPEN,
    "pin.outline": OPEN,
    "open311.services": OPEN,
    "open311.service_definition": OPEN,
    "open311.create_request": OPEN,
    "open311.list_requests": OPEN,
    "open311.get_request": OPEN,
    "open311.token_status": OPEN,
    "open311.media": OPEN,
    "open311.unknown": OPEN,
    "signaler.form": OPEN,  # the citizens' web form: anti-abuse in web/signaler.py
    "signaler.submit": OPEN,
    "signaler.suggestions": OPEN,
    "twilio_hooks.messages": OPEN,
    "twilio_hooks.status": OPEN,
    "twilio_hooks.voice": OPEN,
    "twilio_hooks.voice_recording": OPEN,
    "twilio_hooks.voice_transcript": OPEN,
    "metrics.scrape": OPEN,  # its own check: web.metrics_token or web.metrics_allow
    "queue.index": EVERYONE,
    "queue.attachment": EVERYONE | FIELD,  # the citizen's photos, also on the field page
    "queue.selection": EVERYONE,  # each action on a selection checks the roles of its single action (web/selection.py)
    "queue.failed": frozenset({ACCUEIL, ADMIN}),
    "health.page": frozenset({ACCUEIL, ADMIN}),
    "health.retry": frozenset({ACCUEIL, ADMIN}),
    "health.resend": frozenset({ACCUEIL, ADMIN}),
    "staff.entry_form": EVERYONE,
    "staff.submit_entry": EVERYONE,
    "staff.address_suggestions": EVERYONE,
    # the report page and every action taken from it (web/report/)
    "report.page": EVERYONE,
    "report.change_category": EVERYONE,
    "report.change_service": EVERYONE,
    "report.change_status": frozenset({AGENT, ADMIN}),
    "report.preview_status": frozenset({AGENT, ADMIN}),
    "report.place": EVERYONE,
    "report.assign": frozenset({AGENT, ADMIN}),
    "report.reply": EVERYONE,
    "report.detach": frozenset({AGENT, ADMIN}),
    "report.merge_into": frozenset({AGENT, ADMIN}),
    "report.workorder_pdf": EVERYONE | FIELD,  # agents and technicians of the report's service only (URL checked)
    "map.page": EVERYONE,
    "map.data": EVERYONE,
    "exports.csv": EVERYONE,  # personal data only for administrators (web/exports.py)
    "exports.geojson": EVERYONE,
    "stats.statistics": EVERYONE,  # agents see their service only (web/stats.py)
    "stats.points_chauds": EVERYONE,
    "stats.hotspots_geojson": EVERYONE,
    "rgpd.form": frozenset({ADMIN}),  # citizens' requests on their data (web/rgpd.py)
    "rgpd.export": frozenset({ADMIN}),
    "rgpd.erase": frozenset({ADMIN}),
    "field.index": FIELD,  # the technician's pages, phone-sized (web/field.py)
    "field.page": FIELD,
    "field.update": FIELD,
    "field.photo": EVERYONE | FIELD,  # photos after the work: shown to agents on the report page too
    "field.public_photo": OPEN,  # only when web.public_after_photo and the tracking token match
}


# Endpoints answering JSON to scripts: an expired session gets 401 JSON, not a redirect to the sign-in page.
JSON_ENDPOINTS = frozenset({"staff.address_suggestions", "signaler.suggestions", "map.data", "stats.hotspots_geojson"})


def _report_service(view_args: dict[str, Any]) -> tuple[bool, int | None, str | None]:
    """(concerns a report, its id, its service) for the report or attachment named in the URL."""
    if "number" not in view_args and "attachment_id" not in view_args:
        return False, None, None
    with current_app.extensions["guichet"].factory() as session:
        if "number" in view_args:
            owner = report_owner(session, str(view_args["number"])[:16])
        else:
            owner = attachment_owner(session, int(view_args["attachment_id"]))
    return True, (owner[0] if owner else None), (owner[1] if owner else None)


def _refuse(status: int, message: str) -> Any:
    if request.endpoint in JSON_ENDPOINTS or request.accept_mimetypes.best == "application/json":
        return jsonify({"erreur": message}), status
    return render_template("error.html", status=status, message=message), status


def enforce() -> Any:
    """before_request: public, signed in with the right role, and within the agent's service."""
    from web.auth import idle_expired

    endpoint = request.endpoint
    if endpoint is None:
        return None  # no route matched: Flask answers 404
    allowed = ROUTES.get(endpoint)
    if allowed is None:
        log.error("route %s has no entry in web.access.ROUTES: refused", endpoint)
        return _refuse(403, "Accès refusé.")
    # The signed-in user is loaded now, in a session of its own, before the view opens one: a public page
    # rendered for an agent (the header names them) would otherwise load it while the view's session holds
    # SQLite's write lock, and wait for that lock (30 s, then a 500).
    signed_in = current_user.is_authenticated
    if PUBLIC in allowed:
        return None
    if not signed_in or idle_expired():
        if request.method == "GET" and endpoint not in JSON_ENDPOINTS:
            return redirect(url_for("auth.login", suivant=request.full_path.rstrip("?")))
        return _refuse(401, "Session expirée : reconnectez-vous.")
    if current_user.role not in allowed:
        return _refuse(403, "Votre rôle ne permet pas cette action.")
    concerns, report_id, service = _report_service(request.view_args or {})
    g.audit_report_id = report_id
    if concerns and report_id is not None and current_user.role in SCOPED and service != current_user.service:
        return _refuse(403, "Ce signalement relève d'un autre service.")
    return None


# Form fields never copied into the audit log: secrets, and the email or phone of an RGPD request (the request
# is audited under a pseudonym by intake/privacy/rights.py; copying the address would keep what was erased).
_NOT_AUDITED = frozenset({"csrf_token", "mot_de_passe", "identifiant", "confirmation"})


def audit(response: Response) -> Response:
    """after_request: every view or change of a report, every change at all, and every export is logged."""
    endpoint = request.endpoint or ""
    if not current_user.is_authenticated or endpoint == "static" or PUBLIC in ROUTES.get(endpoint, frozenset()):
        return response
    report_id = getattr(g, "audit_report_id", None)
    if request.method == "GET" and report_id is None and not endpoint.startswith("exports."):
        return response
    entry = AuditLog(
        user_id=current_user.id,
        username=current_user.username,
        action=endpoint[:80],
        method=request.method[:8],
        path=request.full_path.rstrip("?")[:500],
        status=response.status_code,
        report_id=report_id,
        detail={k: v[:200] for k, v in request.form.items() if k not in _NOT_AUDITED},
        ip=(request.remote_addr or "")[:45],
    )
    try:
        with current_app.extensions["guichet"].factory() as session, session.begin():
            session.add(entry)
    except Exception:  # the action itself is done; a missing line is logged loudly
        log.exception("audit log entry not written for %s %s", request.method, request.path)
    return response


def forbidden(_: Exception) -> tuple[str, int]:
    """French 403 page."""
    return render_template("error.html", status=403, message="Accès refusé."), 403


def init_app(app: Flask) -> None:
    """Install the checks (once per app) and the sign-in they rely on."""
    from web import auth

    if app.extensions.get("guichet_access"):
        return
    app.extensions["guichet_access"] = True
    auth.init_app(app)
    app.jinja_env.globals["can"] = lambda endpoint: bool(
        current_user.is_authenticated and role_allowed(endpoint, current_user.role)
    )  # hide what one cannot do
    app.before_request(enforce)
    app.after_request(audit)
    app.register_error_handler(403, forbidden)


def missing_routes(app: Flask) -> list[str]:
    """Endpoints of the app with no entry in ROUTES (must be empty)."""
    return sorted({rule.endpoint for rule in app.url_map.iter_rules()} - set(ROUTES))


def role_allowed(endpoint: str, role: str) -> bool:
    """Whether `role` may use `endpoint` (templates hide what a user cannot do)."""
    allowed = ROUTES.get(endpoint, frozenset())
    return PUBLIC in allowed or role in allowed
