"""Results shaped like the national address API (api-adresse): label, housenumber, street, postcode, city."""

from __future__ import annotations

from intake.geocoding.matcher import Street
from intake.geocoding.protocol import GeocodeResult


def make_result(
    street: Street,
    housenumber: str | None,
    lon: float,
    lat: float,
    score: float,
    kind: str,
    *,
    number_found: bool = True,
    details: dict[str, object] | None = None,
    label: str | None = None,
    uncertainty_m: float | None = None,
    estimated: bool = False,
) -> GeocodeResult:
    """A result on `street`: label "72 Rue des Pyrénées 75020 Paris", score clamped to [0, 1].

    `estimated` marks a position the reference does not give as such (with its `uncertainty_m`)."""
    text = " ".join(p for p in (housenumber, label or street.name, street.postcode, street.city) if p)
    return GeocodeResult(
        label=text,
        score=round(min(1.0, max(0.0, score)), 4),
        type=kind,
        lon=lon,
        lat=lat,
        housenumber=housenumber,
        street=street.name,
        postcode=street.postcode,
        citycode=street.citycode,
        city=street.city,
        number_found=number_found,
        estimated=estimated,
        uncertainty_m=uncertainty_m,
        details={"street_kind": street.kind, **(details or {})},
    )
