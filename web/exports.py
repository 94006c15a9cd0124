"""Downloads of the filtered reports (CSV for spreadsheets, GeoJSON for GIS), streamed; every one is audited.

Endpoint names start with "exports." so that `web.access.audit` records each download. Personal data (citizens'
names, emails, phones, the text they wrote) is only exported for administrators; everyone gets the author's
keyed pseudonym (intake/pseudonyms.py), so that reports can be counted per reporter without knowing who.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request, url_for

from intake.backoffice.exports import columns, csv_stream, geojson_stream, iter_rows
from intake.backoffice.filters import parse_filter
from intake.pseudonyms import pseudonym, town_key

bp = Blueprint("exports", __name__)


def _download(kind: str) -> Response:
    from web.auth import current_agent
    from web.map import service_scope

    cfg = current_app.config["GUICHET"]
    flt = parse_filter(request.args, cfg)
    if flt.errors:  # never a broader selection than asked: say what to correct
        page = render_template(
            "error.html", status=400, message="Export impossible, filtre à corriger : " + " ; ".join(flt.errors) + "."
        )
        return Response(page, status=400, mimetype="text/html")
    agent = current_agent()
    personal = bool(agent and agent.is_admin)
    cols = columns(personal=personal)
    base = cfg.town.public_url.rstrip("/")
    prefix = url_for("report.page", number="NUMERO")
    key, region = town_key(cfg), cfg.town.phone_region
    rows = iter_rows(
        current_app.extensions["guichet"].factory,
        cfg,
        flt,
        service_scope=service_scope(),
        personal=personal,
        link=lambda number: base + prefix.replace("NUMERO", number),
        pseudonym=lambda value: pseudonym(key, value, region=region),
    )
    stream: Iterator[str] = (csv_stream if kind == "csv" else geojson_stream)(rows, cols, cfg)
    day = cfg.town.local(datetime.now().astimezone()).strftime("%Y-%m-%d")
    mimetype = "text/csv" if kind == "csv" else "application/geo+json"
    response = Response((chunk.encode("utf-8") for chunk in stream), mimetype=mimetype)
    response.headers["Content-Type"] = f"{mimetype}; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="signalements-{day}.{kind}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/exports/signalements.csv")
def csv() -> Any:
    """The filtered reports as CSV for French Excel (UTF-8 with BOM, `;`, local dates); personal data for admins."""
    return _download("csv")


@bp.get("/exports/signalements.geojson")
def geojson() -> Any:
    """The filtered reports as a GeoJSON FeatureCollection; personal data for administrators only."""
    return _download("geojson")
