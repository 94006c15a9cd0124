"""The Geocoder seam: results shaped like the national address API (api-adresse / addok)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class AddressQuery:
    """A structured address as extracted from a message (any part may be missing)."""

    voie: str | None = None  # street name as written or canonical, e.g. "Rue des Pyrénées"
    numero: str | None = None  # house number, digits only, e.g. "72"
    rep: str | None = None  # repetition index: "bis", "ter", "quater", "a", "b"...
    code_postal: str | None = None  # "75020"
    city: str | None = None  # "Paris", "Paris 11e"
    second_voie: str | None = None  # the other street of an intersection


@dataclass(frozen=True)
class GeocodeResult:
    """One geocoded position, with the fields of the national API's GeoJSON properties."""

    label: str  # "72 Rue des Pyrénées 75020 Paris"
    score: float  # 0..1, calibrated: below ~0.5 means probably not this commune's address
    type: str  # "housenumber" | "street" | "intersection" | "locality" | "poi"
    lon: float
    lat: float
    housenumber: str | None = None  # "72", "12bis"
    street: str | None = None  # canonical street name
    postcode: str | None = None
    citycode: str | None = None  # INSEE code
    city: str | None = None
    number_found: bool = True  # False when the reference does not list the number asked for
    estimated: bool = False  # the position is estimated (number missing, crossing), never the reference's
    uncertainty_m: float | None = None  # radius of the estimate in metres; None when unknown (or not estimated)
    details: dict[str, object] = field(default_factory=dict)


class Geocoder(Protocol):
    """Turns a free-text or structured address into a position, and a position into an address."""

    def geocode(self, query: str | AddressQuery, *, citycode: str | None = None) -> GeocodeResult | None: ...

    def reverse(self, lat: float, lon: float) -> GeocodeResult | None: ...
