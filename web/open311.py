"""Open311 GeoReport v2 API for citizens' apps: services, requests stored raw then enqueued, tokens, status."""

from __future__ import annotations

import base64
import hmac
import json
import logging
import math
import uuid
from datetime import datetime
from typing import Any, cast

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from intake.config import Config
from intake.models import RawMessage, Report, ReportMessage
from intake.rawstore import store_raw

log = logging.getLogger(__name__)
bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
CLOSED = ("resolu", "rejete")
FIELDS = ("service_code", "lat", "long", "address_string", "address_id", "description", "media_url", "email",
          "phone", "first_name", "last_name", "device_id", "account_id")
MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/heic"})
MAX_LIST = 1000


class Fail(Exception):
    """An answer in Open311's error format: [{"code": …, "description": …}]."""
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


def init_app(app: Flask) -> None:
    """Register the API; apps authenticate with an api_key, not a CSRF token."""
    app.extensions["csrf"].exempt(bp)
    app.register_blueprint(bp)


def _error(code: int, description: str) -> tuple[Response, int]:
    return jsonify([{"code": code, "description": description}]), code


@bp.errorhandler(Fail)
def _fail(exc: Fail) -> tuple[Response, int]:
    return _error(exc.code, exc.description)


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException) -> tuple[Response, int]:
    return _error(exc.code or 400, f"{exc.name} : {exc.description}")


@bp.errorhandler(SQLAlchemyError)
def _database(exc: SQLAlchemyError) -> tuple[Response, int]:
    log.exception("open311: database failure")
    return _error(503, "Service momentanément indisponible / service temporarily unavailable.")


def _cfg() -> Config:
    return cast(Config, current_app.config["GUICHET"])


def _factory() -> Any:
    return current_app.extensions["guichet"].factory


def _json_only(fmt: str) -> None:
    if fmt != "json":
        raise Fail(400, f"format non pris en charge : .{fmt[:10]} (utilisez .json) / unsupported format, use .json")


def _labels() -> dict[str, str]:
    return {c.code: c.label for c in _cfg().categories}


def _service(code: str) -> dict[str, Any]:
    cfg = _cfg()
    groups = {s.code: s.name for s in cfg.services}
    cat = next(c for c in cfg.categories if c.code == code)
    return {"service_code": cat.code, "service_name": cat.label, "description": cat.label, "metadata": False,
            "type": "realtime", "keywords": "", "group": groups.get(cat.service, cat.service)}


@bp.get("/services.<fmt>")
def services(fmt: str) -> Response:
    """The categories of the town, one Open311 service each (grouped by the town's service)."""
    _json_only(fmt)
    return jsonify([_service(c.code) for c in _cfg().categories])


@bp.get("/services/<code>.<fmt>")
def service_definition(code: str, fmt: str) -> Response:
    """A service definition: no extra attributes are asked."""
    _json_only(fmt)
    if code not in _labels():
        raise Fail(404, f"service_code inconnu : {code[:40]} / unknown service_code")
    return jsonify({"service_code": code, "attributes": []})


def _api_key_name(given: str | None) -> str:
    """The configured name of the api_key; compared in constant time so keys cannot be guessed by timing."""
    if given:
        for entry in _cfg().open311.api_keys:
            secret = entry.key.reveal()
            if secret and hmac.compare_digest(secret.encode(), given.encode()):
                return entry.name
    raise Fail(403, "api_key absente ou invalide / missing or invalid api_key")


def _coordinate(value: str | None, name: str, bound: float) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        number = float(value)
    except ValueError:
        raise Fail(400, f"{name} : nombre attendu / {name} must be a number") from None
    if not math.isfinite(number) or not -bound <= number <= bound:
        raise Fail(400, f"{name} hors limites (-{bound:g} à {bound:g}) / {name} out of range")
    return number


def _validated(form: Any) -> dict[str, Any]:
    """The request's fields, checked; raise Fail with the reason when one is wrong."""
    cfg = _cfg()
    fields = {k: str(form.get(k)).strip() for k in FIELDS if form.get(k) not in (None, "")}
    code = fields.get("service_code")
    if not code:
        raise Fail(400, "service_code manquant / service_code is required")
    if code not in _labels():
        raise Fail(400, f"service_code inconnu : {code[:40]} / unknown service_code")
    lat = _coordinate(fields.get("lat"), "lat", 90)
    lon = _coordinate(fields.get("long"), "long", 180)
    if (lat is None) != (lon is None):
        raise Fail(400, "lat et long vont ensemble / lat and long must both be given")
    if lat is None and not fields.get("address_string") and not fields.get("address_id"):
        raise Fail(400, "localisation manquante : lat/long ou address_string / location required")
    if len(fields.get("description", "")) > cfg.open311.max_description:
        raise Fail(400, f"description trop longue (maximum {cfg.open311.max_description} caractères) / "
                        "description too long")
    email = fields.get("email")
    if email and ("@" not in email or len(email) > 320 or any(c.isspace() for c in email)):
        raise Fail(400, "email invalide / invalid email")
    for key in ("address_string", "media_url", "phone", "first_name", "last_name", "device_id", "account_id"):
        if len(fields.get(key, "")) > 500:
            raise Fail(400, f"{key} trop long / {key} too long")
    return fields


def _upload(limit: int) -> dict[str, str] | None:
    media = request.files.get("media")
    if media is None or not media.filename:
        return None
    content_type = (media.mimetype or "").lower()
    if content_type not in MEDIA_TYPES:
        raise Fail(400, f"type de fichier non accepté ({content_type[:40]}) / unsupported media type")
    data = media.stream.read(limit + 1)
    if len(data) > limit:
        raise Fail(413, f"photo trop volumineuse (maximum {limit / 1_000_000:g} Mo) / media too large")
    return {"filename": media.filename[:200], "content_type": content_type,
            "data": base64.b64encode(data).decode("ascii")}


def _enqueue(raw_id: int) -> None:
    """Queue processing when Redis is configured; on failure the sweeper re-enqueues pending rows."""
    cfg = _cfg()
    if not cfg.redis_url:
        return
    try:
        from intake.queue import enqueue_process, get_queue, redis_connection

        state = current_app.extensions.setdefault("guichet_open311", {})
        if "queue" not in state:
            state["queue"] = get_queue(redis_connection(cfg))
        enqueue_process(state["queue"], raw_id, timeout=cfg.worker.job_timeout)
    except Exception:  # the request is committed: the sweeper will pick it up
        log.exception("open311: raw message %s stored but not enqueued", raw_id)


@bp.post("/requests.<fmt>")
def create_request(fmt: str) -> tuple[Response, int]:
    """A citizen's request from an app: validate, store verbatim, enqueue, answer its token."""
    _json_only(fmt)
    limit = int(_cfg().open311.max_media_mb * 1_000_000)
    if (request.content_length or 0) > limit + 200_000:
        raise Fail(413, "requête trop volumineuse / request too large")
    form: Any = request.get_json(silent=True) if request.is_json else request.form
    if not isinstance(form, dict) and request.is_json:
        raise Fail(400, "corps JSON invalide / invalid JSON body")
    source = _api_key_name(form.get("api_key"))
    fields = _validated(form)
    media = _upload(limit)
    if media is not None:
        fields["media_file"] = media
    token = uuid.uuid4().hex
    raw_id, created = store_raw(_factory(), channel="open311", source=source[:80], external_key=token,
                                payload=json.dumps(fields, ensure_ascii=False).encode("utf-8"))
    if created:
        _enqueue(raw_id)
    return jsonify([{"token": token}]), 201


def _moment(moment: datetime | None) -> str | None:
    return _cfg().town.local(moment).isoformat(timespec="seconds") if moment is not None else None


def _public(report: Report) -> dict[str, Any]:
    """A report as Open311 shows it: no name, email, phone or citizen's text from other channels."""
    labels = _labels()
    code = report.category or ""
    # Only what was posted to this public API is shown verbatim; mail and SMS may carry signatures, numbers.
    description = report.description if report.channel == "open311" else labels.get(code, "")
    return {
        "service_request_id": report.tracking_number, "status": "closed" if report.status in CLOSED else "open",
        "status_notes": None, "service_name": labels.get(code, code or None), "service_code": code or None,
        "description": description, "agency_responsible": None, "service_notice": None,
        "requested_datetime": _moment(report.created_at), "updated_datetime": _moment(report.updated_at),
        "expected_datetime": None, "address": report.address_label, "address_id": None,
        "zipcode": report.address_postcode, "lat": report.lat, "long": report.lon, "media_url": None,
    }


def _date(name: str) -> datetime | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace(" ", "+"))  # a "+" left unencoded in a query arrives as " "
    except ValueError:
        raise Fail(400, f"{name} : date ISO 8601 attendue (2024-05-01T10:00:00+02:00) / invalid date") from None


@bp.get("/requests.<fmt>")
def list_requests(fmt: str) -> Response:
    """Reports filtered by ids, service_code, dates and status (newest first, at most 1000)."""
    _json_only(fmt)
    query = select(Report).order_by(Report.created_at.desc(), Report.id.desc()).limit(MAX_LIST)
    ids = [i.strip() for i in request.args.get("service_request_id", "").split(",") if i.strip()]
    if ids:  # the spec: ids override every other filter
        query = query.where(Report.tracking_number.in_(ids[:MAX_LIST]))
    else:
        code = request.args.get("service_code")
        if code:
            if code not in _labels():
                raise Fail(400, f"service_code inconnu : {code[:40]} / unknown service_code")
            query = query.where(Report.category == code)
        start, end = _date("start_date"), _date("end_date")
        if start is not None:
            query = query.where(Report.created_at >= start)
        if end is not None:
            query = query.where(Report.created_at <= end)
        status = request.args.get("status")
        if status == "open":
            query = query.where(Report.status.not_in(CLOSED))
        elif status == "closed":
            query = query.where(Report.status.in_(CLOSED))
        elif status:
            raise Fail(400, "status : open ou closed / status must be open or closed")
    with _factory()() as session:
        return jsonify([_public(r) for r in session.execute(query).scalars()])


@bp.get("/requests/<rid>.<fmt>")
def get_request(rid: str, fmt: str) -> Response:
    """One report by its tracking number."""
    _json_only(fmt)
    with _factory()() as session:
        report = session.execute(select(Report).where(Report.tracking_number == rid)).scalar_one_or_none()
        if report is None:
            raise Fail(404, f"signalement inconnu : {rid[:20]} / unknown service_request_id")
        return jsonify([_public(report)])


@bp.get("/tokens/<token>.<fmt>")
def token_status(token: str, fmt: str) -> Response:
    """The tracking number given to a posted request, once it has been processed."""
    _json_only(fmt)
    with _factory()() as session:
        row = session.execute(
            select(RawMessage.id, Report.tracking_number)
            .outerjoin(ReportMessage, ReportMessage.raw_message_id == RawMessage.id)
            .outerjoin(Report, Report.id == ReportMessage.report_id)
            .where(RawMessage.channel == "open311", RawMessage.external_key == token[:255])
        ).first()
    if row is None:
        raise Fail(404, "jeton inconnu / unknown token")
    processed = {"service_request_id": row[1]} if row[1] is not None else {}
    return jsonify([{"token": token, **processed}])


@bp.route("/<path:anything>", methods=["GET", "POST"])
def unknown(anything: str) -> Response:
    """Any other path: a resource the API does not have, or one asked without its .json suffix."""
    raise Fail(404, "ressource inconnue (suffixe .json requis) / unknown resource (.json suffix required)")
