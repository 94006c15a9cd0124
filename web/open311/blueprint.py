"""The Open311 blueprint, its error handlers (never a 500 page) and what every view needs."""

from __future__ import annotations

import logging
from typing import Any, cast
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException

from intake.config import Config
from intake.runtime.db import DatabaseError
from web.open311.formats import Fail, error

log = logging.getLogger("web.open311")
bp = Blueprint("open311", __name__, url_prefix="/open311/v2")

# Errors werkzeug raises itself, said in French and English like ours.
_HTTP_TEXT = {
    400: "requête mal formée / bad request",
    404: "ressource inconnue / unknown resource",
    405: "méthode non permise (GET ou POST) / method not allowed",
    413: "requête trop volumineuse / request too large",
}


@bp.errorhandler(Fail)
def _fail(exc: Fail) -> Response:
    return error(exc.code, exc.description)


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException) -> Response:
    code = exc.code or 400
    return error(code, _HTTP_TEXT.get(code, f"{exc.name} : {exc.description}"))


@bp.errorhandler(DatabaseError)
def _database(exc: DatabaseError) -> Response:
    log.exception("open311: database failure")
    return error(503, "service momentanément indisponible / service temporarily unavailable")


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    # Not a traceback page for an app: the error is logged with its stack for the town's admin.
    log.exception("open311: unexpected failure on %s %s", request.method, request.path)
    return error(500, "erreur interne, réessayez plus tard / internal error, try again later")


@bp.after_request
def _public_reads(response: Response) -> Response:
    """Reads are public and carry no cookie: a web app on another origin may call them."""
    if request.method in ("GET", "HEAD"):
        response.headers.setdefault("Access-Control-Allow-Origin", "*")
    return response


def cfg() -> Config:
    """The town's configuration."""
    return cast(Config, current_app.config["GUICHET"])


def factory() -> Any:
    """The session factory of the running app."""
    return current_app.extensions["guichet"].factory


def labels() -> dict[str, str]:
    """Category code → label: the town's Open311 services."""
    return {c.code: c.label for c in cfg().categories}


def jurisdictions() -> set[str]:
    """What `jurisdiction_id` may say: the commune's INSEE codes, its public host name and its mail domain."""
    config = cfg()
    names = {*config.town.insee_codes, config.town.mail_domain.lower()}
    host = urlsplit(config.town.public_url).hostname
    if host:
        names.add(host.lower())
    return names


def check_jurisdiction(value: str | None) -> None:
    """A single-town server accepts its own jurisdiction_id or none; any other is a 404 standard error."""
    if value is None or not value.strip():
        return
    if value.strip().lower() not in jurisdictions():
        raise Fail(
            404,
            f"jurisdiction_id inconnu : {value.strip()[:60]} (ce serveur ne sert que "
            f"{cfg().town.name}) / unknown jurisdiction_id",
        )
