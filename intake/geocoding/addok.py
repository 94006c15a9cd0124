"""Geocoding over HTTP with addok: the national address API (api-adresse) or a self-hosted addok."""

from __future__ import annotations

import http.client
import json
import logging
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from intake.geocoding.parse import parse_address
from intake.geocoding.protocol import AddressQuery, GeocodeResult

__all__ = ["AddokGeocoder", "GeocoderUnavailable", "expand_citycodes", "keep_written_number"]

log = logging.getLogger(__name__)

# Both addok and the national API refuse longer queries (HTTP 413/400), and the API wants at least 3 characters
# starting with a letter or a digit: such queries are trimmed here rather than turned into a "server down".
QUERY_MAX_LENGTH = 200
QUERY_MIN_LENGTH = 3
SEARCH_LIMIT = 5
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
_USER_AGENT = "guichet (town-hall reports; addok client)"
_LEADING_NUMBER = re.compile(r"^\s*\d{1,4}(?!\d)")
# Paris, Lyon and Marseille: the BAN gives addresses the code of their arrondissement, never the commune's.
_PLM_ARRONDISSEMENTS: dict[str, tuple[str, ...]] = {
    "75056": tuple(str(code) for code in range(75101, 75121)),
    "69123": tuple(str(code) for code in range(69381, 69390)),
    "13055": tuple(str(code) for code in range(13201, 13217)),
}
# Properties mapped to GeocodeResult fields; every other one goes to `details`.
_MAPPED = {"label", "score", "type", "housenumber", "street", "postcode", "citycode", "city"}


class GeocoderUnavailable(Exception):
    """The geocoding service could not answer (network, timeout, HTTP error, unreadable answer)."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(
            f"Service de géocodage indisponible ({where}) : {reason}"
            f" / Geocoding service unavailable ({where}): {reason}"
        )


def expand_citycodes(codes: Iterable[str]) -> frozenset[str]:
    """INSEE codes as addresses carry them: Paris, Lyon and Marseille also stand for their arrondissements."""
    out: set[str] = set()
    for code in codes:
        out.add(code)
        out.update(_PLM_ARRONDISSEMENTS.get(code, ()))
    return frozenset(out)


def _clean_query(text: str) -> str | None:
    """Whitespace collapsed, leading punctuation dropped, cut at a word under the servers' length limit."""
    text = " ".join(text.split())
    while text and not text[0].isalnum():
        text = text[1:].lstrip()
    if len(text) > QUERY_MAX_LENGTH:
        cut = text[:QUERY_MAX_LENGTH]
        text = cut.rsplit(" ", 1)[0] if " " in cut else cut
    return text if len(text) >= QUERY_MIN_LENGTH else None


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(min(1.0, a)))


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, list | tuple):  # a self-hosted addok may keep BAN's lists (first value is the name)
        return _text(value[0]) if value else None
    return str(value)


def parse_feature(feature: object, *, wanted_number: bool = False) -> GeocodeResult | None:
    """One GeoJSON Feature of addok or the national API as a GeocodeResult; None when it is malformed."""
    if not isinstance(feature, Mapping):
        return None
    props, geometry = feature.get("properties"), feature.get("geometry")
    if not isinstance(props, Mapping) or not isinstance(geometry, Mapping):
        return None
    coords = geometry.get("coordinates")
    if not isinstance(coords, list | tuple) or len(coords) < 2:
        return None
    try:
        lon, lat = float(coords[0]), float(coords[1])
        score = float(props.get("score", 0.0))
    except (TypeError, ValueError):
        return None
    label = _text(props.get("label"))
    if label is None or not (math.isfinite(lon) and math.isfinite(lat)):
        return None
    type_ = _text(props.get("type")) or "unknown"
    housenumber = _text(props.get("housenumber")) if type_ == "housenumber" else None
    street = _text(props.get("street"))
    if street is None and type_ in ("street", "housenumber"):
        # addok names a housenumber result "12 Rue X" and gives no `street` key: take the name without the number.
        name = _text(props.get("name")) or ""
        street = name[len(housenumber) + 1 :] if housenumber and name.startswith(housenumber + " ") else name or None
    details = {key: value for key, value in props.items() if key not in _MAPPED}
    return GeocodeResult(
        label=label,
        score=score,
        type=type_,
        lon=lon,
        lat=lat,
        housenumber=housenumber,
        street=street,
        postcode=_text(props.get("postcode")),
        citycode=_text(props.get("citycode")),
        city=_text(props.get("city")),
        number_found=not (wanted_number and type_ != "housenumber"),
        details=details,
    )


def _plain(number: str) -> str:
    """A house number compared loosely: "12 bis", "12bis", "12b" -> "12b"."""
    text = number.lower().replace(" ", "")
    for long, short in (("bis", "b"), ("ter", "t"), ("quater", "q")):
        text = text.replace(long, short)
    return text.lstrip("0")


def keep_written_number(result: GeocodeResult, written: str) -> GeocodeResult:
    """`result` for an address whose number `written` the server did not find: never another number in the label.

    addok answers a missing number with the street (or, loosely, with another number): the label gets the
    citizen's number back and the position is marked estimated, of unknown precision (the embedded reference
    may estimate it better, see Understanding.locate_text).
    """
    if result.type == "housenumber" and result.housenumber and _plain(result.housenumber) == _plain(written):
        return result
    street = result.street or result.label
    where = " ".join(p for p in (result.postcode, result.city) if p)
    label = " ".join(p for p in (written, street, where) if p)
    return replace(
        result,
        label=label,
        housenumber=written,
        number_found=False,
        estimated=True,
        uncertainty_m=None,
        details={**result.details, "requested_housenumber": written, "server_label": result.label, "estimate": "voie"},
    )


class AddokGeocoder:
    """A Geocoder over addok's HTTP API (`/search/`, `/reverse/`), restricted to the town's communes."""

    def __init__(self, base_url: str, *, timeout: float = 5.0, citycodes: tuple[str, ...] = ()) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"addok base URL must be http(s)://host[:port][/path], got {base_url!r}")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.citycodes = tuple(citycodes)
        self._allowed = expand_citycodes(citycodes)

    def __repr__(self) -> str:
        return f"AddokGeocoder({self.base_url!r}, timeout={self.timeout}, citycodes={self.citycodes!r})"

    def geocode(self, query: str | AddressQuery, *, citycode: str | None = None) -> GeocodeResult | None:
        """The best result of this town for a free-text or structured address, or None when nothing fits.

        Raises GeocoderUnavailable when the service cannot be reached or answers nonsense.
        """
        if isinstance(query, AddressQuery) and query.second_voie:
            return self._intersection(query, citycode=citycode)
        if isinstance(query, AddressQuery):
            if not query.voie:
                return None
            parts = [query.numero, query.rep, query.voie, query.code_postal or query.city]
            text = " ".join(p for p in parts if p)
            wanted_number, postcode = bool(query.numero), query.code_postal
            written = f"{query.numero}{query.rep or ''}" if query.numero else None
        else:
            text, wanted_number, postcode = query, bool(_LEADING_NUMBER.match(query)), None
            parsed = parse_address(query)
            written = f"{parsed.numero}{parsed.rep or ''}" if parsed.numero and wanted_number else None
        result = self._search(text, citycode=citycode, postcode=postcode, wanted_number=wanted_number)
        return keep_written_number(result, written) if result is not None and written else result

    def reverse(self, lat: float, lon: float) -> GeocodeResult | None:
        """The address nearest to a position, when it belongs to this town; None otherwise."""
        if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError(f"not a position: lat={lat!r} lon={lon!r}")
        features = self._get("/reverse/", {"lat": f"{lat:.7f}", "lon": f"{lon:.7f}"})
        return self._first_allowed(features, accept=None, wanted_number=False)

    def _search(
        self, text: str, *, citycode: str | None, postcode: str | None, wanted_number: bool, type_: str | None = None
    ) -> GeocodeResult | None:
        q = _clean_query(text)
        if q is None:
            return None
        accept = expand_citycodes([citycode]) if citycode else None
        if accept is not None and self._allowed and not accept & self._allowed:
            return None  # asked for a commune this geocoder must never answer with
        params = {"q": q, "limit": str(SEARCH_LIMIT)}
        server_filter = citycode or (self.citycodes[0] if len(self._allowed) == 1 else None)
        # A commune's own code finds nothing for Paris, Lyon, Marseille (see _PLM_ARRONDISSEMENTS): filter here.
        if server_filter and server_filter not in _PLM_ARRONDISSEMENTS:
            params["citycode"] = server_filter
        if postcode:
            params["postcode"] = postcode
        if type_:
            params["type"] = type_
        return self._first_allowed(self._get("/search/", params), accept=accept, wanted_number=wanted_number)

    def _intersection(self, query: AddressQuery, *, citycode: str | None) -> GeocodeResult | None:
        """Both streets' positions and their midpoint: addok knows no intersections, so this is approximate."""
        found = []
        for voie in (query.voie, query.second_voie):
            if not voie:
                return None
            text = " ".join(p for p in (voie, query.code_postal or query.city) if p)
            result = self._search(
                text, citycode=citycode, postcode=query.code_postal, wanted_number=False, type_="street"
            )
            if result is None:
                return None
            found.append(result)
        first, second = found
        where = " ".join(p for p in (first.postcode, first.city) if p)
        label = f"{first.street or first.label} / {second.street or second.label}" + (f" {where}" if where else "")
        # The middle of the two streets' centres: a crossing of unknown precision (the embedded reference, when
        # loaded, finds the real one: Understanding.locate_text).
        return GeocodeResult(
            label=label,
            score=min(first.score, second.score),
            type="intersection",
            estimated=True,
            lon=(first.lon + second.lon) / 2,
            lat=(first.lat + second.lat) / 2,
            street=first.street,
            postcode=first.postcode,
            citycode=first.citycode,
            city=first.city,
            details={
                "streets": [first.label, second.label],
                "scores": [first.score, second.score],
                "streets_distance_m": round(_distance_m(first.lat, first.lon, second.lat, second.lon), 1),
            },
        )

    def _first_allowed(
        self, features: list[Any], *, accept: frozenset[str] | None, wanted_number: bool
    ) -> GeocodeResult | None:
        for feature in features:
            result = parse_feature(feature, wanted_number=wanted_number)
            if result is None:
                log.warning("addok: skipping a malformed feature from %s", self.base_url)
                continue
            if self._allowed and result.citycode not in self._allowed:
                log.debug("addok: %s rejected, citycode %s outside the town", result.label, result.citycode)
                continue
            if accept is not None and result.citycode not in accept:
                continue
            return result
        return None

    def _get(self, endpoint: str, params: dict[str, str]) -> list[Any]:
        """The `features` of one GET; every failure becomes GeocoderUnavailable."""
        where = self.base_url + endpoint
        request = urllib.request.Request(
            f"{where}?{urllib.parse.urlencode(params)}",
            headers={"Accept": "application/json", "User-Agent": _USER_AGENT},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise GeocoderUnavailable(where, f"HTTP {exc.code} {exc.reason}") from exc
        except urllib.error.URLError as exc:
            raise GeocoderUnavailable(where, str(exc.reason)) from exc
        except TimeoutError as exc:
            raise GeocoderUnavailable(where, f"timeout after {self.timeout:g} s") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise GeocoderUnavailable(where, f"{type(exc).__name__}: {exc}") from exc
        if len(body) > MAX_RESPONSE_BYTES:
            raise GeocoderUnavailable(where, f"answer larger than {MAX_RESPONSE_BYTES} bytes")
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise GeocoderUnavailable(where, f"invalid JSON ({exc})") from exc
        features = data.get("features") if isinstance(data, dict) else None
        if not isinstance(features, list):
            raise GeocoderUnavailable(where, "answer is not a GeoJSON FeatureCollection")
        return features
