"""LocalGeocoder: the Geocoder protocol over an in-memory index of the commune's address reference.

Score scale (0..1), the product of:
  - street similarity: 1.0 exact normalized name; 0.95 street type missing; ~0.85-0.9 one typo in a word;
    0.8 other street type; lower for missing or extra words; under 0.7 the street is not proposed at all;
  - number: 1.0 found; 0.95 found without the asked repetition index, or no number asked (street centre);
    0.8 down to 0.6 when the number does not exist: its position is then estimated between the neighbouring
    numbers of the same side (the label keeps the number asked; `estimated`, `uncertainty_m`), 0.7 on a
    street without numbers (its centre);
  - postcode/city: 1.0 agree or absent; 0.85 the street is in another loaded arrondissement/commune than the
    one asked; 0.45 the postcode is of no loaded commune ("probably not this commune's address");
  - other commune: 0.5 when the name is not exact here but is exactly a street of another loaded commune
    ("Rue du Gaiac" asked in Nouméa is Dumbéa's, not a typo for Nouméa's "Rue des Gaiacs");
  - ambiguity: 0.85 when two differently named streets fit equally ("des Lilas": rue or villa?).
Results at or above ~0.8 are safe to file; below 0.5 they are probably not this commune's address.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from classifiers.text import normalize_street, strip_accents
from intake.geocoding.estimate import crossing, estimate_number
from intake.geocoding.formats import normalize_rep, read_reference
from intake.geocoding.matcher import EXACT_WORDS, Street, StreetMatcher
from intake.geocoding.models import AddressPoint, AddressStreet
from intake.geocoding.normalize import core_tokens, is_street_type, split_type
from intake.geocoding.parse import parse_address
from intake.geocoding.protocol import AddressQuery, GeocodeResult
from intake.geocoding.reference import collect_streets
from intake.geocoding.results import make_result
from intake.geocoding.spatial import Area, GridIndex

# Communes split into arrondissements: commune code -> (arrondissement citycode prefix, postcode of the 1st)
ARRONDISSEMENTS = {"75056": ("751", 75001), "69123": ("6938", 69001), "13055": ("132", 13001)}
_ARROND_CITY = re.compile(r"(?:(paris|lyon|marseille)\s*)?(\d{1,2})\s*(?:er|ere|e|eme|°)?(?:\s*arr\w*)?$")
_BARE_ORDINAL = re.compile(r"^\s*\d{1,2}\s*(?:er|ere|e|eme|ème|°)\s*$", re.IGNORECASE)
_NUMERO = re.compile(r"^\s*0*(\d{1,5})\s*([a-zA-Z]*)\s*$")  # "72", "12bis" (the protocol wants digits only)
TAIL_SIMILARITY = 0.85  # "bd Rochechouart" for "Boulevard Marguerite de Rochechouart", when only one fits
CUT_FACTOR = 0.9  # a name found by completing words cut short ("av. de la Rép.") is a little less sure
_REP_ALIASES = {"b": "bis", "bis": "b", "t": "ter", "ter": "t", "q": "quater", "quater": "q"}


class LocalGeocoder:
    """Embedded geocoder: exact and fuzzy street matching, numbers, intersections, reverse, commune test."""

    def __init__(self, streets: Iterable[Street]) -> None:
        self._streets = list(streets)
        self.matcher = StreetMatcher(self._streets)
        self.citycodes = {s.citycode for s in self._streets}
        self.by_postcode: dict[str, set[str]] = defaultdict(set)
        self.by_city: dict[str, set[str]] = defaultdict(set)
        self._no_postcode: set[str] = set()
        for s in self._streets:
            if s.postcode:
                self.by_postcode[s.postcode].add(s.citycode)
            else:
                self._no_postcode.add(s.citycode)
            self.by_city[normalize_street(s.city)].add(s.citycode)
        for prefix, first in ARRONDISSEMENTS.values():  # 75001..75020 -> 75101..75120 (and 75116)
            for code in self.citycodes:
                if code.startswith(prefix):
                    self.by_postcode[str(first - 1 + int(code[len(prefix) :]))].add(code)
        self._grid: GridIndex | None = None
        self._flat: list[tuple[Street, int, str]] = []
        self._areas: dict[str, Area] | None = None
        self._tokens: list[str] | None = None
        self._cities: dict[str | None, frozenset[str]] = {}  # the communes allowed for a citycode argument

    @classmethod
    def load(cls, factory: sessionmaker[Session], *, citycodes: set[str] | None = None) -> LocalGeocoder:
        """Load the index once from address_street/address_point (only `citycodes` when given)."""
        with factory() as session:
            q_streets = select(AddressStreet.__table__)
            q_points = select(AddressPoint.__table__).join(AddressStreet, AddressStreet.id == AddressPoint.street_id)
            if citycodes is not None:
                q_streets = q_streets.where(AddressStreet.citycode.in_(sorted(citycodes)))
                q_points = q_points.where(AddressStreet.citycode.in_(sorted(citycodes)))
            streets = [dict(r._mapping) for r in session.execute(q_streets)]
            points = [dict(r._mapping) for r in session.execute(q_points)]
        return cls.from_rows(streets, points)

    @classmethod
    def from_rows(cls, streets: Iterable[Mapping[str, Any]], points: Iterable[Mapping[str, Any]]) -> LocalGeocoder:
        """Build from rows shaped like the tables (mappings with their column names)."""
        index: dict[int, Street] = {}
        for r in streets:
            index[r["id"]] = Street(
                r["id"],
                r["citycode"],
                r.get("postcode"),
                r.get("city") or "",
                r["name"],
                # recomputed, not read: rows imported before a change of the normaliser
                # would otherwise miss exact matches until the next import
                normalize_street(r["name"]),
                r.get("kind") or "voie",
                r["lon"],
                r["lat"],
            )
        for p in points:
            street = index.get(p["street_id"])
            if street is not None:
                street.points[(p["numero"], p.get("rep") or "")] = (p["lon"], p["lat"])
        return cls(index.values())

    @classmethod
    def from_files(cls, paths: Iterable[str | Path], *, citycodes: set[str] | None = None) -> LocalGeocoder:
        """Build straight from reference files, without a database (benchmarks, one-off checks)."""
        streets: list[Street] = []
        for path in paths:
            data, _ = collect_streets(read_reference(path, citycodes=citycodes).rows, source=Path(path).name)
            for d in data.values():
                v = d.values()
                streets.append(
                    Street(
                        len(streets) + 1,
                        d.citycode,
                        v["postcode"],
                        d.city,
                        v["name"],
                        d.normalized,
                        d.kind,
                        v["lon"],
                        v["lat"],
                        dict(d.points),
                    )
                )
        return cls(streets)

    def streets(self) -> list[Street]:
        """Every loaded street and lieu-dit (name, postcode, citycode, points...), e.g. for a gazetteer."""
        return list(self._streets)

    # -- geocoding -------------------------------------------------------------------------------------------

    def geocode(self, query: str | AddressQuery, *, citycode: str | None = None) -> GeocodeResult | None:
        """The best position for `query` in the loaded communes (or `citycode` only), else None."""
        q = parse_address(query) if isinstance(query, str) else query
        allowed = self._allowed(citycode)
        if not q.voie or not allowed:
            return None
        voie = q.voie
        candidates = self._match(voie, allowed)
        if q.city and _BARE_ORDINAL.match(q.city):  # "rue François 1er": the "arrondissement" was the name's
            named = self._match(f"{voie} {q.city}", allowed)
            if named and (not candidates or named[0][0] > candidates[0][0]):
                voie = f"{voie} {q.city}"
                candidates, q = named, replace(q, voie=voie, city=None)
        if not candidates:
            return None
        wanted, foreign = self._hint(q, allowed)
        place_factor = 0.45 if foreign else 1.0
        elsewhere = self._exact_elsewhere(voie, allowed) if candidates[0][0] < EXACT_WORDS else None
        if elsewhere is not None:  # "Rue du Gaiac" is Dumbéa's, not a typo for Nouméa's "Rue des Gaiacs"
            place_factor *= 0.5

        def agree(street: Street) -> float:
            return place_factor * (1.0 if wanted is None or street.citycode in wanted else 0.85)

        if q.second_voie:
            return self._intersection(candidates, self._match(q.second_voie, allowed), agree)
        result = self._best(q, candidates, agree)
        if elsewhere is not None:
            result = replace(result, details={**result.details, "exact_elsewhere": elsewhere})
        return result

    def _best(
        self, q: AddressQuery, candidates: list[tuple[float, Street]], agree: Callable[[Street], float]
    ) -> GeocodeResult:
        """The best-scoring result among the closest candidate streets, lowered when another name fits as well."""
        top = candidates[0][0]
        scored = sorted(
            (
                (self._at(street, q, sim * agree(street)), sim, street)
                for sim, street in candidates
                if sim >= top - 0.15
            ),
            key=lambda item: (item[0].score, len(item[2].points)),
            reverse=True,
        )
        result, sim, street = scored[0]
        rivals = sorted(
            {
                other.name
                for r, _, other in scored[1:]
                if other.normalized != street.normalized and r.score >= result.score - 0.02
            }
        )
        if rivals and sim < 1.0:
            return replace(result, score=round(result.score * 0.85, 4), details={**result.details, "ambiguous": rivals})
        return result

    def _exact_elsewhere(self, voie: str, allowed: set[str]) -> str | None:
        """The citycode of a loaded commune outside `allowed` having exactly this street name, if any."""
        if allowed == self.citycodes:
            return None
        found = self.matcher.match(voie, allowed=lambda s: s.citycode not in allowed, min_similarity=EXACT_WORDS)
        return found[0][1].citycode if found else None

    def _allowed(self, citycode: str | None) -> set[str]:
        if citycode is None:
            return self.citycodes
        if citycode in ARRONDISSEMENTS:
            return {c for c in self.citycodes if c.startswith(ARRONDISSEMENTS[citycode][0])}
        return {citycode} & self.citycodes

    def _hint(self, q: AddressQuery, allowed: set[str]) -> tuple[set[str] | None, bool]:
        """Citycodes the postcode/city point to (None: no hint), and whether they are of no loaded commune."""
        wanted: set[str] | None = None
        postcode = (q.code_postal or "").strip()
        if postcode:
            codes = self.by_postcode.get(postcode, set())
            if codes:
                wanted = codes & allowed
            elif not any(_department(postcode) == _department(c) for c in allowed & self._no_postcode):
                return None, True  # BAL files carry no postcode: one of the same département is not foreign
        if q.city:
            codes = self._city_codes(q.city)
            if codes:
                wanted = codes if wanted is None else (wanted & codes or wanted)
        return wanted, False

    def _city_codes(self, city: str) -> set[str]:
        text = " ".join(strip_accents(city).replace("-", " ").split())
        named = self.by_city.get(normalize_street(text))
        if named:
            return named
        m = _ARROND_CITY.search(text)
        if m:
            number = int(m.group(2))
            return {
                code
                for prefix, _ in ARRONDISSEMENTS.values()
                for code in self.citycodes
                if code.startswith(prefix) and int(code[len(prefix) :]) == number
            }
        return set()

    def _match(self, voie: str, allowed: set[str]) -> list[tuple[float, Street]]:
        """Matches for the street text, also trying it without leading words ("Jardin X Rue Y") or a city."""

        def ok(street: Street) -> bool:
            return street.citycode in allowed

        found = self.matcher.match(voie, allowed=ok)
        if found and found[0][0] >= 1.0:
            return found
        words = normalize_street(voie).split()
        variants = [" ".join(words[i:]) for i in range(1, len(words) - 1) if is_street_type(words[i])]
        for city in self.by_city:
            if city and words[-len(city.split()) :] == city.split() and len(words) > len(city.split()) + 1:
                variants.append(" ".join(words[: -len(city.split())]))
        for text in variants:
            found = sorted(found + self.matcher.match(text, allowed=ok), key=lambda item: item[0], reverse=True)
        if not found and (whole := self._complete(words)) is not None:  # "av de la rep": words cut short
            found = [(round(sim * CUT_FACTOR, 4), s) for sim, s in self.matcher.match(whole, allowed=ok)]
        if not found:  # "bd Rochechouart": Boulevard Marguerite de Rochechouart, named by its last words
            found = self._by_tail(normalize_street(voie), ok)
        return found

    def _by_tail(self, normalized: str, ok: Callable[[Street], bool]) -> list[tuple[float, Street]]:
        """Streets of the same type whose identifying words end with the query's ("bd rochechouart")."""
        qtype, _ = split_type(normalized)
        qcore = core_tokens(normalized)
        if qtype is None or not qcore or len(" ".join(qcore)) < 5:
            return []
        streets = self.matcher.streets
        found = [
            (TAIL_SIMILARITY, streets[i])
            for i in self.matcher.postings.get(qcore[-1], ())
            if streets[i].type == qtype and streets[i].core[-len(qcore) :] == qcore and ok(streets[i])
        ]
        return found if len({s.normalized for _, s in found}) == 1 else []

    def _complete(self, words: list[str]) -> str | None:
        """The name with each word cut short ("rep", "rochech") completed, when one word of the reference only
        starts so; None when no word needed it or one is ambiguous."""
        if self._tokens is None:
            self._tokens = sorted(self.matcher.postings)
        out, changed = [], False
        for word in words:
            if len(word) < 3 or word in self.matcher.postings or not word.isalpha() or is_street_type(word):
                out.append(word)
                continue
            at = bisect.bisect_left(self._tokens, word)
            fits = [t for t in self._tokens[at : at + 2] if t.startswith(word)]
            if len(fits) != 1:
                return None
            out.append(fits[0])
            changed = True
        return " ".join(out) if changed else None

    def _at(self, street: Street, q: AddressQuery, score: float) -> GeocodeResult:
        """The result on `street` for the query's number, or the street centre when none was asked.

        A number the reference does not list keeps the citizen's number in the label: its position is
        estimated between the neighbouring numbers of the same side (`estimated`, `uncertainty_m`), never
        taken from another number."""
        asked = _NUMERO.match(q.numero or "")
        if asked is None:
            return make_result(street, None, street.lon, street.lat, score * 0.95, "street")
        numero, rep = int(asked.group(1)), normalize_rep(q.rep or asked.group(2))
        for r in (rep, _REP_ALIASES.get(rep)):
            if r is not None and (numero, r) in street.points:
                lon, lat = street.points[(numero, r)]
                return make_result(street, f"{numero}{r}", lon, lat, score, "housenumber")
        written = f"{numero}{rep}"
        guess = estimate_number(street.points, numero)
        if guess is None:  # a street without numbers: its centre, how far from the number nobody knows
            return make_result(
                street,
                written,
                street.lon,
                street.lat,
                score * 0.7,
                "street",
                number_found=False,
                estimated=True,
                details={"requested_housenumber": written, "estimate": "centre"},
            )
        factor = 0.95 if guess.method == "rep" else 0.8 - min(0.2, guess.uncertainty_m / 500)
        return make_result(
            street,
            written,
            guess.lon,
            guess.lat,
            score * factor,
            "housenumber",
            number_found=False,
            estimated=True,
            uncertainty_m=guess.uncertainty_m,
            details={"requested_housenumber": written, "estimate": guess.method, "between": list(guess.between)},
        )

    def _intersection(
        self, first: list[tuple[float, Street]], second: list[tuple[float, Street]], agree: Callable[[Street], float]
    ) -> GeocodeResult | None:
        best: GeocodeResult | None = None
        if not second:
            return None
        for sim_a, a in [m for m in first if m[0] >= first[0][0] - 0.05][:4]:
            for sim_b, b in [m for m in second if m[0] >= second[0][0] - 0.05][:4]:
                if a.normalized == b.normalized:
                    continue
                (lat, lon), uncertainty, distance = crossing(a.positions(), b.positions())
                factor = 1.0 if distance <= 60 else max(0.3, 1 - (distance - 60) / 500)
                score = min(sim_a, sim_b) * 0.95 * factor * agree(a)
                if best is None or score > best.score:
                    best = make_result(
                        a,
                        None,
                        lon,
                        lat,
                        score,
                        "intersection",
                        estimated=True,
                        uncertainty_m=uncertainty,
                        label=f"{a.name} / {b.name}",
                        details={"second_street": b.name, "distance_m": round(distance, 1)},
                    )
        return best

    # -- positions -------------------------------------------------------------------------------------------

    def reverse(self, lat: float, lon: float, *, max_distance_m: float = 500.0) -> GeocodeResult | None:
        """The nearest numbered address within `max_distance_m`; score 1 at 0 m down to 0 at the limit."""
        if self._grid is None:
            self._flat = [(s, n, r) for s in self._streets for (n, r) in s.points]
            self._grid = GridIndex(
                (s.points[(n, r)][1], s.points[(n, r)][0], i) for i, (s, n, r) in enumerate(self._flat)
            )
        found = self._grid.nearest(lat, lon, max_m=max_distance_m)
        if found is None:
            return None
        street, n, r = self._flat[found[0]]
        plon, plat = street.points[(n, r)]
        return make_result(
            street,
            f"{n}{r}",
            plon,
            plat,
            max(0.0, 1 - found[1] / max_distance_m),
            "housenumber",
            details={"distance_m": round(found[1], 1)},
        )

    def inside_commune(self, lat: float, lon: float, *, margin_m: float = 300.0, citycode: str | None = None) -> bool:
        """Whether a position lies within the convex hull of a loaded commune's addresses, plus `margin_m`."""
        areas = self._commune_areas()
        cities = self._cities.get(citycode)
        if cities is None:
            allowed = self._allowed(citycode)
            cities = self._cities[citycode] = frozenset(
                s.city or s.citycode for s in self._streets if s.citycode in allowed
            )
        return any(areas[c].distance_m(lat, lon) <= margin_m for c in cities if c in areas)

    def _commune_areas(self) -> dict[str, Area]:
        """The communes' footprints (convex hulls of their addresses), built on first use (~0.4 s for Paris)."""
        if self._areas is None:
            groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
            for s in self._streets:
                positions = list(s.points.values()) or [(s.lon, s.lat)]
                groups[s.city or s.citycode].extend((plat, plon) for plon, plat in positions)
            self._areas = {city: Area(pts) for city, pts in groups.items() if pts}
        return self._areas

    def warm(self) -> None:
        """Build the lazy indexes that understanding and filing use (the communes' footprints, the words of the
        reference), so that a process forked afterwards (a work horse, a budgeted reader) inherits them instead of
        building them again for every job."""
        self._commune_areas()
        if self._tokens is None:
            self._tokens = sorted(self.matcher.postings)


def _department(code: str) -> str:
    """Département of an INSEE code or postcode: 2 characters, 3 overseas (971..988); Corsica 2A/2B is 20."""
    code = code.upper().replace("2A", "20").replace("2B", "20")
    return code[:3] if code[:2] in ("97", "98") else code[:2]
