"""Public page where a citizen places their report on a map (or types its address), and the commune's outline."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError

from intake.models import Report
from intake.reports.relocate import CITIZEN, accepts_citizen_location, answered, place
from intake.reports.tracking import report_by_token
from web.common import form_number
from web.common import res as _res

bp = Blueprint("pin", __name__)
PLACED_ZOOM = 16
NEAR_M = 25  # a pin farther than this from the nearest address is labelled "à proximité du …"


@dataclass(frozen=True)
class Position:
    """Where the citizen says the problem is, and how it was given."""

    lat: float
    lon: float
    source: str  # pin | text
    score: float
    geo: Any = None  # GeocodeResult (reverse-geocoded for a pin, geocoded for an address)
    mention: Any = None
    via: str = "carte"  # carte | adresse


class InputError(ValueError):
    """What the citizen must correct, in French, and which field it is about."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _town_geometry() -> dict[str, Any]:
    """Centre and outline (convex hull of the reference's addresses) of the commune, computed once."""
    state: dict[str, Any] = current_app.extensions.setdefault("guichet_pin", {})
    if "centre" not in state:
        from intake.geocoding.spatial import convex_hull

        points = [
            (plon, plat)
            for s in _res().understanding().local.streets()
            for plon, plat in (list(s.points.values()) or [(s.lon, s.lat)])
        ]
        if points:
            state["centre"] = (sum(p[1] for p in points) / len(points), sum(p[0] for p in points) / len(points))
            hull = convex_hull(points)
            state["outline"] = [[round(x, 6), round(y, 6)] for x, y in [*hull, hull[0]]] if len(hull) >= 3 else None
        else:
            state["centre"], state["outline"] = (46.6, 2.4), None
    return state


def _from_form(form: Any) -> Position:
    """Read the point (preferred) or the address; raise InputError with what to correct."""
    understanding = _res().understanding()
    town = current_app.config["GUICHET"].town.name
    lat, lon = form_number(form.get("lat", "")), form_number(form.get("lon", ""))
    address = (form.get("adresse") or "").strip()[:300]
    if lat is not None or lon is not None:
        if lat is None or lon is None or math.isnan(lat) or math.isnan(lon) or abs(lat) > 90 or abs(lon) > 180:
            raise InputError(
                "Coordonnées invalides : placez le point sur la carte, ou indiquez une latitude et "
                "une longitude en degrés décimaux (par exemple 48.8566 et 2.3522).",
                "lat",
            )
        if not understanding.in_commune(lat, lon):
            raise InputError(
                f"Ce point est en dehors de la commune ({town}). Placez-le à l'endroit exact du "
                "problème, dans la commune.",
                "lat",
            )
        return Position(lat, lon, "pin", 1.0, geo=understanding.local.reverse(lat, lon))
    if not address:
        raise InputError("Placez le point sur la carte ou indiquez l'adresse du problème.", "adresse")
    mention, result = understanding.locate_text("", address)
    if result is None and mention is None:
        try:
            result = understanding.geocoder.geocode(address)
        except Exception:  # an unreachable address server must not show a traceback
            current_app.logger.exception("geocoding of a citizen's address failed")
            raise InputError(
                "La recherche d'adresse est momentanément indisponible : placez le point sur la carte.", "adresse"
            ) from None
        if result is not None and result.score < current_app.config["GUICHET"].addresses.min_score:
            result = None
    if result is None:
        raise InputError(
            "Adresse introuvable dans la commune : vérifiez le numéro et le nom de la rue, ou placez "
            "le point sur la carte.",
            "adresse",
        )
    if not understanding.in_commune(result.lat, result.lon):
        raise InputError(f"Cette adresse n'est pas dans la commune ({town}).", "adresse")
    return Position(result.lat, result.lon, "text", result.score, geo=result, mention=mention, via="adresse")


def _page(
    report: Report,
    *,
    state: str,
    message: str | None = None,
    error: InputError | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    cfg = current_app.config["GUICHET"]
    geometry = _town_geometry()
    centre, zoom, fit_outline = geometry["centre"], 13, True
    if report.lat is not None and report.lon is not None:  # a doubtful position from the text: start there
        centre, zoom, fit_outline = (report.lat, report.lon), PLACED_ZOOM, False
    labels = {c.code: c.label for c in cfg.categories}
    return render_template(
        "pin.html",
        state=state,
        message=message,
        error=error,
        values=values or {},
        tracking_number=report.tracking_number,
        category=labels.get(report.category or ""),
        centre=centre,
        zoom=zoom,
        fit_outline=fit_outline,
        tiles_url=cfg.web.tiles_url or "",
        attribution=cfg.web.tiles_attribution,
        outline_url=url_for("pin.outline") if geometry.get("outline") else "",
    ), status


def _report(session: Any, token: str, *, lock: bool = False) -> Report:
    report = report_by_token(session, token, lock=lock)
    if report is None:
        abort(404)
    return report


def _closed(session: Any, report: Report, refusal: str, *, status: int = 200) -> tuple[str, int]:
    return _page(report, state="merci" if answered(session, report) else "ferme", message=refusal, status=status)


@bp.get("/suivi/<token>/position")
def position(token: str) -> Any:
    """The map (or the thanks, or why the position cannot be changed any more)."""
    _res().understanding()  # loaded before any session: it may read the address reference
    with _res().factory() as session:
        report = _report(session, token)
        refusal = accepts_citizen_location(session, report)
        return _page(report, state="form") if refusal is None else _closed(session, report, refusal)


@bp.post("/suivi/<token>/position")
def save_position(token: str) -> Any:
    """Place the report where the citizen says, if it is in the commune and the report still wants it."""
    _res().understanding()  # loaded before any session: it may read the address reference
    values = {k: (request.form.get(k) or "")[:300] for k in ("lat", "lon", "adresse")}
    with _res().factory() as session:  # a short look first: 404 before anything else
        report = _report(session, token)
        refusal = accepts_citizen_location(session, report)
        if refusal is not None:
            return _closed(session, report, refusal, status=409)
    try:  # geocoding happens outside any transaction (an address server may be slow)
        where = _from_form(request.form)
    except InputError as exc:
        return _page(report, state="form", error=exc, values=values, status=422)
    with _res().factory() as session, session.begin():
        report = _report(session, token, lock=True)
        refusal = accepts_citizen_location(session, report)  # again, under the lock: an agent may have been faster
        if refusal is not None:
            return _closed(session, report, refusal, status=409)
        detail: dict[str, Any] = {"via": where.via}
        label = None
        if where.source == "pin" and where.geo is not None:
            distance = where.geo.details.get("distance_m")
            detail["reverse_distance_m"] = distance
            if not isinstance(distance, int | float) or distance > NEAR_M:
                label = f"à proximité du {where.geo.label}"  # the nearest address, not the point's own
        place(
            session,
            current_app.config["GUICHET"],
            report,
            lat=where.lat,
            lon=where.lon,
            source=where.source,
            score=where.score,
            geo=where.geo,
            mention=where.mention,
            label=label,
            detail=detail,
            actor=CITIZEN,
        )
    return redirect(url_for("pin.position", token=token), 303)


@bp.get("/carte/commune.geojson")
def outline() -> Any:
    """The commune's outline (convex hull of its addresses) as GeoJSON, for the maps' background."""
    ring = _town_geometry().get("outline")
    if not ring:
        abort(404)
    body = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"nom": current_app.config["GUICHET"].town.name},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        ],
    }
    response = current_app.response_class(current_app.json.dumps(body), mimetype="application/geo+json")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.errorhandler(CSRFError)
def csrf_refused(exc: CSRFError) -> tuple[str, int]:
    """An expired or missing form token: a French page instead of Werkzeug's English one."""
    return render_template(
        "pin.html",
        state="csrf",
        message=None,
        error=None,
        values={},
        tracking_number=None,
        category=None,
        centre=(0, 0),
        zoom=13,
        fit_outline=False,
        tiles_url="",
        attribution="",
        outline_url="",
        retry_url=request.path,
    ), 400
