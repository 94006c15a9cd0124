"""Open311 reads: services, service definitions, requests (filters of the spec), tokens; unknown paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, request

from intake.backoffice.open311 import RequestSearch, find_requests, request_by_public_id, token_public_id
from intake.models import utcnow
from web.open311.blueprint import bp, cfg, check_jurisdiction, factory, labels
from web.open311.formats import Fail, check_format, render
from web.open311.media import app_secret
from web.open311.public import publish

MAX_LIST = 1000
WINDOW = timedelta(days=90)  # the spec's default and widest date range


def _start(fmt: str) -> str:
    """Check the format and the jurisdiction every endpoint accepts."""
    fmt = check_format(fmt)
    check_jurisdiction(request.values.get("jurisdiction_id"))
    return fmt


def _service(code: str) -> dict[str, Any]:
    config = cfg()
    groups = {s.code: s.name for s in config.services}
    cat = next(c for c in config.categories if c.code == code)
    return {
        "service_code": cat.code,
        "service_name": cat.label,
        "description": cat.label,
        "metadata": False,
        "type": "realtime",
        "keywords": "",
        "group": groups.get(cat.service, cat.service),
    }


@bp.get("/services.<fmt>")
def services(fmt: str) -> Response:
    """The categories of the town, one Open311 service each (grouped by the town's service)."""
    fmt = _start(fmt)
    return render([_service(c.code) for c in cfg().categories], fmt, root="services")


@bp.get("/services/<code>.<fmt>")
def service_definition(code: str, fmt: str) -> Response:
    """A service definition: no extra attributes are asked (every service has metadata false)."""
    fmt = _start(fmt)
    if code not in labels():
        raise Fail(404, f"service_code inconnu : {code[:40]} / unknown service_code")
    return render({"service_code": code, "attributes": []}, fmt, root="service_definition")


def _date(name: str) -> datetime | None:
    """A W3C date or date-time (2010-01-01T00:00:00Z) as aware UTC; no zone means the town's local time."""
    value = request.args.get(name, "").strip().replace(" ", "+")  # an unencoded "+02:00" arrives as " 02:00"
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value[:-1] + "+00:00" if value[-1:] in ("Z", "z") else value)
        if not 1900 <= moment.year <= 2999:  # year 1 or 9999 would overflow once shifted or widened by 90 days
            raise ValueError(value)
    except ValueError:
        raise Fail(400, f"{name} : date W3C attendue (2024-05-01T10:00:00+02:00) / invalid {name}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(cfg().town.timezone))
    return moment.astimezone(UTC)


def _comma(name: str) -> list[str]:
    return [v.strip() for value in request.args.getlist(name) for v in value.split(",") if v.strip()]


def _window() -> tuple[datetime, datetime]:
    """[start, end] of the search: the last 90 days by default, 90 days after start or before end."""
    start, end = _date("start_date"), _date("end_date")
    if start is None:
        end = end or utcnow()
        start = end - WINDOW
    elif end is None:
        end = start + WINDOW
    if end < start:
        raise Fail(400, "end_date avant start_date / end_date is before start_date")
    if end - start > WINDOW:
        raise Fail(
            400,
            "intervalle de plus de 90 jours : réduisez start_date/end_date / "
            "the date range may not span more than 90 days",
        )
    return start, end


def _search() -> RequestSearch:
    """The spec's filters, checked; service_request_id overrides every other one."""
    ids = _comma("service_request_id")
    if ids:
        return RequestSearch(ids=tuple(i[:32] for i in ids[:MAX_LIST]))
    codes = _comma("service_code")
    unknown = [c for c in codes if c not in labels()]
    if unknown:
        raise Fail(400, f"service_code inconnu : {unknown[0][:40]} / unknown service_code")
    start, end = _window()
    statuses = set(_comma("status"))
    if statuses - {"open", "closed"}:
        raise Fail(400, "status : open ou closed (séparés par des virgules) / status must be open or closed")
    state = next(iter(statuses)) if len(statuses) == 1 else None
    return RequestSearch(codes=tuple(codes), start=start, end=end, state=state)


@bp.get("/requests.<fmt>")
def list_requests(fmt: str) -> Response:
    """Reports of the last 90 days by default, filtered as the spec says; newest first, at most 1000."""
    fmt = _start(fmt)
    search = _search()
    with factory()() as session:
        records = publish(
            session,
            cfg(),
            find_requests(session, search, limit=MAX_LIST),
            base_url=cfg().town.public_url,
            secret=app_secret(),
        )
    return render(records, fmt, root="service_requests")


@bp.get("/requests/<rid>.<fmt>")
def get_request(rid: str, fmt: str) -> Response:
    """One report by its public id (never by its sequential tracking number: it could be counted through)."""
    fmt = _start(fmt)
    with factory()() as session:
        records = publish(
            session, cfg(), request_by_public_id(session, rid[:32]), base_url=cfg().town.public_url, secret=app_secret()
        )
    if not records:
        raise Fail(404, f"signalement inconnu : {rid[:20]} / unknown service_request_id")
    return render(records, fmt, root="service_requests")


@bp.get("/tokens/<token>.<fmt>")
def token_status(token: str, fmt: str) -> Response:
    """The public id given to a posted request, once it has been processed."""
    fmt = _start(fmt)
    with factory()() as session:
        known, public_id = token_public_id(session, token[:255])
    if not known:
        raise Fail(404, "jeton inconnu / unknown token")
    record = {"service_request_id": public_id, "token": token} if public_id is not None else {"token": token}
    return render([record], fmt, root="service_requests")


@bp.route("/<path:anything>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(anything: str) -> Response:
    """Any other path or method: a resource the API does not have, or one asked without its suffix."""
    if request.method not in ("GET", "POST"):
        raise Fail(405, "méthode non permise (GET ou POST) / method not allowed")
    raise Fail(
        404, "ressource inconnue (suffixe .json ou .xml requis) / unknown resource (.json or .xml suffix required)"
    )
