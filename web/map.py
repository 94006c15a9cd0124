"""The reports map: every report matching the queue's filters as a marker coloured by category, and its data."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, jsonify, render_template, request, url_for

from intake.backoffice.filters import CHANNELS, ReportFilter, parse_filter, without
from intake.backoffice.markers import map_markers
from intake.config import STATUS_CODES, Config
from web.common import cfg as _cfg

bp = Blueprint("map", __name__)
MAX_MARKERS = 20_000  # beyond this a browser slows down; the page says so and offers the displayed area only
# Fixed palette (Okabe-Ito, then Paul Tol's), keyed by the category's rank in config.yaml: (fill, text on it).
# Every text colour has a contrast of at least 4.5:1 on its fill; each marker also shows the category's number.
PALETTE: tuple[tuple[str, str], ...] = (
    ("#0072B2", "#FFFFFF"),
    ("#E69F00", "#000000"),
    ("#009E73", "#000000"),
    ("#CC79A7", "#000000"),
    ("#D55E00", "#000000"),
    ("#56B4E9", "#000000"),
    ("#F0E442", "#000000"),
    ("#332288", "#FFFFFF"),
    ("#882255", "#FFFFFF"),
    ("#117733", "#FFFFFF"),
    ("#999933", "#000000"),
    ("#AA4499", "#FFFFFF"),
)
UNCLASSIFIED = ("#595959", "#FFFFFF")
# Query arguments of the filters form; a visit with none of them gets the map's default (open reports).
HOTSPOTS = "stats.hotspots_geojson"  # FeatureCollection of Points with radius_m, label, count
FILTER_KEYS = frozenset(
    {
        "statut",
        "categorie",
        "service",
        "canal",
        "zone",
        "du",
        "au",
        "a_qualifier",
        "photo",
        "ouverts",
        "doublons",
        "q",
        "filtre",
    }
)


def legend(config: Config) -> list[dict[str, str]]:
    """One entry per category in config order (number, code, label, colours), then "non classé"."""
    entries = [
        {
            "n": str(i + 1),
            "code": c.code,
            "label": c.label,
            "fill": PALETTE[i % len(PALETTE)][0],
            "text": PALETTE[i % len(PALETTE)][1],
        }
        for i, c in enumerate(config.categories)
    ]
    entries.append({"n": "?", "code": "", "label": "Non classé", "fill": UNCLASSIFIED[0], "text": UNCLASSIFIED[1]})
    return entries


def service_scope() -> str | None:
    """The service an agent is limited to (None for reception and administrators)."""
    from web.auth import current_agent

    agent = current_agent()
    if agent is None or agent.role != "agent":
        return None
    return agent.service or ""  # an agent without a service sees nothing rather than everything


def map_filter(args: Mapping[str, Any], config: Config) -> ReportFilter:
    """The queue's filter; without any filter argument, the open reports (duplicates hidden, as always)."""
    flt = parse_filter(args, config)
    if not FILTER_KEYS & set(args.keys()):
        flt = without(flt, open_only=True)
    return flt


def parse_bbox(raw: str) -> tuple[float, float, float, float]:
    """ "ouest,sud,est,nord" in degrees (GeoJSON order); ValueError with a French message when unusable."""
    parts = raw.split(",")
    try:
        west, south, east, north = (float(p) for p in parts)
    except ValueError:
        raise ValueError("bbox illisible : quatre nombres attendus, ouest,sud,est,nord") from None
    if not all(math.isfinite(v) for v in (west, south, east, north)) or not (
        -180 <= west <= east <= 180 and -90 <= south <= north <= 90
    ):
        raise ValueError("bbox hors limites : ouest ≤ est entre -180 et 180, sud ≤ nord entre -90 et 90")
    return west, south, east, north


def _hotspots_endpoint() -> str | None:
    """The hotspots GeoJSON of the statistics pages (web/stats.py), when it exists and the user may read it."""
    from web.access import role_allowed
    from web.auth import current_agent

    agent = current_agent()
    if HOTSPOTS in current_app.view_functions and agent is not None and role_allowed(HOTSPOTS, agent.role):
        return HOTSPOTS
    return None


def _options(config: Config) -> dict[str, Any]:
    from intake.reports.zones import zones_for

    try:
        zones = zones_for(config)
    except Exception:  # a broken zones file is reported elsewhere; the map still works without the zone filter
        current_app.logger.exception("zones file unreadable for the map's filters")
        zones = None
    return {
        "statuses": [(code, config.statuses.label(code)) for code in STATUS_CODES],
        "categories": [(c.code, c.label) for c in config.categories],
        "services": [(s.code, s.name) for s in config.services],
        "channels": list(CHANNELS.items()),
        "zones": [(z.code, z.name) for z in zones.zones] if zones else [],
    }


@bp.get("/carte")
def page() -> str:
    """The map page: filters, map, legend, the list of reports in view, export links (data fetched by script)."""
    cfg = _cfg()
    flt = map_filter(request.args, cfg)
    args = flt.args()
    hotspots = _hotspots_endpoint()
    return render_template(
        "map.html",
        flt=flt,
        options=_options(cfg),
        scoped=service_scope() is not None,
        legend=legend(cfg),
        legend_json=json.dumps(legend(cfg), ensure_ascii=False),
        data_url=url_for("map.data", filtre="1", **args),
        csv_url=url_for("exports.csv", **args),
        geojson_url=url_for("exports.geojson", **args),
        outline_url=url_for("pin.outline") if "pin.outline" in current_app.view_functions else "",
        hotspots_url=url_for(hotspots, **args) if hotspots else "",
        tiles_url=cfg.web.tiles_url or "",
        attribution=cfg.web.tiles_attribution,
        cap=MAX_MARKERS,
    )


@bp.get("/carte/signalements.geojson")
def data() -> Any:
    """GeoJSON of the matching reports that have a position (newest first, at most MAX_MARKERS), no personal data.

    Foreign members say how many match ("total"), how many have no position ("sans_position"), how many are in
    the file ("affiches") and whether it was cut at the cap ("tronque", "plafond"). `bbox=ouest,sud,est,nord`
    limits the markers to an area.
    """
    cfg = _cfg()
    flt = map_filter(request.args, cfg)
    box = None
    if request.args.get("bbox"):
        try:
            box = parse_bbox(str(request.args["bbox"]))
        except ValueError as exc:
            return jsonify({"erreur": str(exc)}), 400
    cap = int(current_app.config.get("GUICHET_MAP_MAX_MARKERS", MAX_MARKERS))
    with current_app.extensions["guichet"].factory() as session:
        page = map_markers(session, flt, cfg, service_scope=service_scope(), box=box, cap=cap)
    labels = {c.code: c.label for c in cfg.categories}
    statuses = {code: cfg.statuses.label(code) for code in STATUS_CODES}
    link = url_for("report.page", number="NUMERO")
    zone = ZoneInfo(cfg.town.timezone)

    def day(moment: datetime) -> str:
        moment = (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).astimezone(zone)
        return f"{moment.day:02d}/{moment.month:02d}/{moment.year:04d}"

    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [round(m.lon, 6), round(m.lat, 6)]},
            "properties": {
                "numero": m.number,
                "categorie": m.category or "",
                "categorie_libelle": labels.get(m.category or "", "Non classé"),
                "statut": statuses.get(m.status, m.status),
                "date": day(m.created_at),
                **({"position": m.position} if m.position else {}),
                "url": link.replace("NUMERO", m.number),
            },
        }
        for m in page.markers
    ]
    body = {
        "type": "FeatureCollection",
        "features": features,
        "total": page.total,
        "sans_position": page.total - page.with_position,
        "dans_la_zone": page.in_box,
        "affiches": len(features),
        "plafond": cap,
        "tronque": page.truncated,
        "erreurs": list(flt.errors),
    }
    response = current_app.response_class(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")), mimetype="application/geo+json"
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response
