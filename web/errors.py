"""French error pages in the back office's layout (400, 403, 404, 405, 413, 429, 500 and CSRF failures), each
with a way back; JSON endpoints get {"erreur": …}. Blueprints with their own format (Open311) keep theirs."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, jsonify, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

TITLES = {
    400: "Demande invalide",
    403: "Accès refusé",
    404: "Page introuvable",
    405: "Action impossible ici",
    413: "Envoi trop volumineux",
    429: "Trop de demandes",
    500: "Erreur interne",
}
MESSAGES = {
    400: "La demande envoyée n'a pas pu être comprise. Rechargez la page et recommencez.",
    403: "Votre compte ne permet pas d'ouvrir cette page.",
    404: "Aucune page ne correspond à cette adresse : le lien est peut-être ancien ou incomplet.",
    405: "Cette adresse ne s'utilise pas de cette façon (un formulaire rechargé ou ouvert depuis un favori, "
    "par exemple). Revenez à la page précédente et utilisez ses boutons.",
    413: "Le fichier ou le formulaire envoyé dépasse la taille acceptée. Réduisez la photo ou envoyez moins de "
    "fichiers à la fois.",
    429: "Trop de demandes en peu de temps. Patientez une minute avant de réessayer.",
    500: "Une erreur inattendue s'est produite ; elle a été enregistrée. Réessayez dans un instant ; si elle revient, "
    "transmettez la référence ci-dessous à l'administrateur.",
}
CSRF_MESSAGE = (
    "Le formulaire a expiré ou n'a pas été envoyé depuis cette page (jeton de sécurité absent ou "
    "périmé) : rien n'a été enregistré. Rechargez la page et recommencez."
)
_REPORT = re.compile(r"^/signalements/([^/]+)/?$")


def _back() -> str | None:
    """The page the user came from, when it is one of ours (never an outside site)."""
    referrer = request.referrer or ""
    parts = urlsplit(referrer)
    if referrer and parts.netloc == request.host and parts.path != request.path:
        return referrer
    return None


def _hint(status: int) -> str | None:
    """A more precise French hint for a few well-known mistakes."""
    match = _REPORT.match(request.path)
    if status == 404 and match and not re.match(r"^\d{4}-\d{5,}$", match.group(1)):
        return (
            "Un signalement s'ouvre par son numéro de suivi, par exemple /signalements/2026-00042 ; "
            "la recherche de la file des signalements retrouve un numéro."
        )
    if status == 404 and match:
        return f"Aucun signalement n° {match.group(1)}."
    return None


def _wants_json() -> bool:
    from web.access import JSON_ENDPOINTS

    accepts = request.accept_mimetypes
    return request.endpoint in JSON_ENDPOINTS or (accepts.best == "application/json" and not accepts.accept_html)


def render_error(status: int, message: str, *, reference: str | None = None) -> Any:
    """The French page (or JSON) for `status`."""
    if _wants_json():
        body: dict[str, Any] = {"erreur": message}
        if reference:
            body["reference"] = reference
        return jsonify(body), status
    signed_in = bool(current_user and current_user.is_authenticated)
    return render_template(
        "error_page.html",
        status=status,
        title=TITLES.get(status, "Erreur"),
        message=message,
        hint=_hint(status),
        back=_back(),
        signed_in=signed_in,
        reference=reference,
    ), status


def _http_error(exc: HTTPException) -> Any:
    status = exc.code or 500
    if status == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        size = f" (au plus {limit / 1_000_000:.0f} Mo par envoi)" if limit else ""
        return render_error(413, MESSAGES[413].replace("acceptée.", f"acceptée{size}."))
    return render_error(status, MESSAGES.get(status, "La demande n'a pas pu aboutir."))


def _csrf_error(exc: CSRFError) -> Any:
    log.info("CSRF refused on %s %s: %s", request.method, request.path, exc.description)
    return render_error(400, CSRF_MESSAGE)


def _internal_error(exc: InternalServerError) -> Any:
    reference = uuid.uuid4().hex[:8]
    cause = exc.original_exception or exc
    log.error("internal error %s on %s %s", reference, request.method, request.path, exc_info=cause)
    return render_error(500, MESSAGES[500], reference=reference)


def init_app(app: Flask) -> None:
    """Install the handlers (app-wide; a blueprint's own handlers still win inside it)."""
    app.register_error_handler(CSRFError, _csrf_error)
    # 413 stays web/limits.py's: it answers in the route's own format (Open311, Twilio) and says the route's limit.
    for status in (400, 403, 404, 405, 429):
        app.register_error_handler(status, _http_error)
    app.register_error_handler(InternalServerError, _internal_error)
