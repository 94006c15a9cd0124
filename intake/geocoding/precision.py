"""How exact a report's position is, and how it is told to agents, referents and technicians.

A position read from the text is "exact" (the reference's point of the number written), "estimated" (the
number is missing from the reference: placed between its neighbours), "street" (no number written),
"intersection" (two streets' crossing) or "landmark" (a place the commune's reference knows). The precision and
its uncertainty in metres live in `report.confidence` ("location_precision", "location_uncertainty_m") next to
the location's score; a pin, a photo's GPS or an agent's point carries none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from intake.models import Report

PRECISION = "location_precision"
UNCERTAINTY = "location_uncertainty_m"
ESTIMATES = frozenset({"estimated", "intersection"})
# The start every review reason about a doubtful position shares (see relocate.LOCATION_REASONS).
# Not a "missing location" reason: the citizen is not asked again, an agent checks (relocate.LOCATION_REASONS).
UNSURE = "position estimée"


def precision_of(geo: Any) -> tuple[str, float | None]:
    """(precision, uncertainty in metres or None) of a GeocodeResult."""
    kind = getattr(geo, "type", "")
    uncertainty = getattr(geo, "uncertainty_m", None)
    if kind == "intersection":
        return "intersection", uncertainty
    if kind == "poi":
        return "landmark", uncertainty
    if getattr(geo, "estimated", False):
        return "estimated", uncertainty
    return ("exact" if kind == "housenumber" else "street"), None


def mark(report: Report, geo: Any) -> None:
    """Record how exact the report's position is: from `geo` when the position is the geocoded one, else none."""
    confidence = {k: v for k, v in (report.confidence or {}).items() if k not in (PRECISION, UNCERTAINTY)}
    if geo is not None:
        precision, uncertainty = precision_of(geo)
        confidence[PRECISION] = precision
        if uncertainty is not None:
            confidence[UNCERTAINTY] = round(float(uncertainty), 1)
    report.confidence = confidence


def precision(report: Report) -> tuple[str | None, float | None]:
    """The recorded (precision, uncertainty in metres) of the report's position."""
    confidence = report.confidence or {}
    value = confidence.get(UNCERTAINTY)
    return confidence.get(PRECISION), float(value) if isinstance(value, int | float) else None


def _metres(value: float | None) -> str:
    return "précision inconnue" if value is None else f"à {max(1, round(value)):d} m près"


def note(report: Report) -> str | None:
    """What to say of the position itself: "position estimée, à 30 m près", "croisement de deux voies…", or None."""
    return position_note(report.confidence, report.location_source) if report.lat is not None else None


def position_note(confidence: Mapping[str, Any] | None, source: str) -> str | None:
    """`note` from a report's stored confidence and location source (for read models that select columns)."""
    kind = (confidence or {}).get(PRECISION)
    value = (confidence or {}).get(UNCERTAINTY)
    uncertainty = float(value) if isinstance(value, int | float) else None
    if source not in ("text", "agent"):
        return None
    if kind == "estimated":
        return f"position estimée, {_metres(uncertainty)}"
    if kind == "intersection":
        return f"croisement de deux voies, {_metres(uncertainty)}"
    if kind == "landmark":
        return "lieu connu de la commune"
    return None


def describe(report: Report) -> str | None:
    """The address as agents, referents and technicians read it: "vers le 12 Rue des Lilas 75019 Paris (position
    estimée, à 30 m près)", "à l'angle Rue X / Rue Y 75020 Paris (croisement, à 20 m près)", or the label."""
    label = report.address_label or report.address_voie
    if not label:
        return None
    kind, uncertainty = precision(report)
    if kind == "estimated" and report.lat is not None:
        return f"vers le {label} (position estimée, {_metres(uncertainty)})"
    if kind == "intersection" and report.lat is not None:
        return f"à l'angle {label} (croisement estimé, {_metres(uncertainty)})"
    return label


def review_reason(report: Report, max_estimate_m: float) -> str | None:
    """Why a position estimated from the text is too loose to transmit without an agent (French), or None."""
    kind, uncertainty = precision(report)
    if kind not in ESTIMATES or report.location_source != "text" or report.lat is None:
        return None
    if uncertainty is not None and uncertainty <= max_estimate_m:
        return None
    how = "précision inconnue" if uncertainty is None else f"à {round(uncertainty):d} m près"
    if kind == "intersection":
        return f"{UNSURE} : croisement des deux voies ({how})"
    numero = f"n° {report.address_numero}{report.address_rep or ''} " if report.address_numero else "numéro "
    return f"{UNSURE} : {numero}absent de la référence ({how})"
