"""Statistics and hotspots pages of the back office, and the hotspots GeoJSON the map draws."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, current_app, render_template, request, url_for

from intake.backoffice.filters import CHANNELS, ReportFilter, parse_filter
from intake.backoffice.hotspots import find_hotspots, geojson
from intake.backoffice.stats import PRESETS, Period, choose_period, compute, hours_label, period_filter
from intake.config import STATUS_CODES, Config
from intake.pseudonyms import pseudonym, town_key
from web.common import cfg as _cfg

bp = Blueprint("stats", __name__)
MAX_PERIOD_DAYS = 3 * 366  # longer spans are cut (a French message says so)


def _today(config: Config) -> date:
    from intake.models import utcnow

    return config.town.local(utcnow()).date()


def _scope() -> str | None:
    """The service an agent is limited to (None for reception and administrators)."""
    from web.auth import current_agent

    agent = current_agent()
    if agent is None or agent.role != "agent":
        return None
    return agent.service or ""  # an agent without a service sees nothing rather than everything


def _request(default_days: int) -> tuple[ReportFilter, Period, list[str]]:
    """The filter, the period and every French message about what could not be used."""
    cfg = _cfg()
    flt = parse_filter(request.args, cfg)
    period, errors = choose_period(request.args, flt, today=_today(cfg), default_days=default_days)
    if period.days > MAX_PERIOD_DAYS:
        errors.append(f"période trop longue : limitée aux {MAX_PERIOD_DAYS} jours jusqu'au {period.until:%d/%m/%Y}")
        period = Period(period.until - timedelta(days=MAX_PERIOD_DAYS - 1), period.until)
    return flt, period, [*flt.errors, *errors]


def _options(config: Config) -> dict[str, Any]:
    from intake.reports.zones import zones_for

    try:
        zones = zones_for(config)
    except Exception:  # a broken zones file is reported elsewhere; statistics work without the zone filter
        current_app.logger.exception("zones file unreadable for the statistics' filters")
        zones = None
    return {
        "presets": PRESETS,
        "statuses": [(code, config.statuses.label(code)) for code in STATUS_CODES],
        "categories": [(c.code, c.label) for c in config.categories],
        "services": [(s.code, s.name) for s in config.services],
        "channels": list(CHANNELS.items()),
        "zones": [(z.code, z.name) for z in zones.zones] if zones else [],
    }


def _form_args(flt: ReportFilter, period: Period, args: Mapping[str, Any]) -> dict[str, Any]:
    """Query arguments that give back this page (links between the two pages keep the filter and period)."""
    out = {k: v for k, v in flt.args().items() if k not in {"du", "au"}}
    if period.preset:
        out["periode"] = str(period.preset)
    else:
        out["du"], out["au"] = period.since.isoformat(), period.until.isoformat()
    for key in ("seuil", "rayon"):
        if args.get(key):
            out[key] = str(args[key])[:10]
    return out


@bp.get("/statistiques")
def statistics() -> str:
    """Volumes, delays and corrections over the chosen period, as tables with charts drawn from them."""
    cfg = _cfg()
    flt, period, errors = _request(30)
    chosen = period_filter(flt, period, request.args)
    with current_app.extensions["guichet"].factory() as session:
        key, region = town_key(cfg), cfg.town.phone_region
        stats = compute(
            session,
            cfg,
            chosen,
            period,
            service_scope=_scope(),
            pseudonym=lambda value: pseudonym(key, value, region=region),
        )
    return render_template(
        "stats.html",
        stats=stats,
        flt=flt,
        period=period,
        errors=errors,
        options=_options(cfg),
        scoped=_scope() is not None,
        hours=hours_label,
        args=_form_args(flt, period, request.args),
        percent=_percent,
        ratio=_ratio,
    )


def _percent(part: int, whole: int) -> str:
    """A share in French typography: "23,5 %" (no-break space before the sign)."""
    return f"{100 * part / whole:.1f}\u00a0%".replace(".", ",") if whole else "—"


def _ratio(value: float) -> str:
    """A ratio 0..1 as a French percentage: 0.9 → "90 %", 0.875 → "87,5 %"."""
    return f"{100 * value:.1f}".rstrip("0").rstrip(".").replace(".", ",") + "\u00a0%"


def _forced(args: Mapping[str, Any]) -> tuple[int | None, float | None, list[str]]:
    """The agent's own threshold (`seuil`, reports) and radius (`rayon`, metres), checked."""
    errors: list[str] = []
    values: list[Any] = []
    for key, label, low, high in (("seuil", "seuil", 2, 10_000), ("rayon", "rayon", 10, 2000)):
        raw = str(args.get(key) or "").strip()
        if not raw:
            values.append(None)
            continue
        if raw.isdigit() and low <= int(raw) <= high:
            values.append(int(raw))
        else:
            errors.append(f"{label} illisible ({raw[:20]}) : un nombre entier entre {low} et {high} est attendu")
            values.append(None)
    return values[0], values[1], errors


def _hotspots() -> tuple[Any, ReportFilter, Period, list[str]]:
    cfg = _cfg()
    flt, period, errors = _request(cfg.hotspots.default.days)
    seuil, rayon, more = _forced(request.args)
    with current_app.extensions["guichet"].factory() as session:
        result = find_hotspots(session, cfg, flt, period, service_scope=_scope(), min_reports=seuil, radius_m=rayon)
    return result, flt, period, [*errors, *more]


@bp.get("/points-chauds")
def points_chauds() -> str:
    """Hotspots of the period: each with its label, size, place and the list of its reports."""
    cfg = _cfg()
    result, flt, period, errors = _hotspots()
    args = _form_args(flt, period, request.args)
    return render_template(
        "hotspots.html",
        result=result,
        flt=flt,
        period=period,
        errors=errors,
        options=_options(cfg),
        scoped=_scope() is not None,
        args=args,
        geojson_url=url_for("stats.hotspots_geojson", **args),
        tiles_url=cfg.web.tiles_url or "",
        attribution=cfg.web.tiles_attribution,
    )


@bp.get("/points-chauds.json")
def hotspots_geojson() -> Any:
    """GeoJSON FeatureCollection of the hotspots (Point, radius_m, label, reports), for the maps."""
    result, _, _, errors = _hotspots()
    if errors:
        return current_app.response_class(
            json.dumps({"erreur": " ; ".join(errors)}, ensure_ascii=False), status=400, mimetype="application/json"
        )
    link = url_for("report.page", number="NUMERO")
    body = geojson(result, report_url=lambda number: link.replace("NUMERO", number))
    response = current_app.response_class(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")), mimetype="application/geo+json"
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response
