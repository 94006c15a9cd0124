"""Address suggestions while an agent types: the commune's streets and numbers matching what is typed so far."""

from __future__ import annotations

import re
from dataclasses import dataclass

from classifiers.text import normalize_street
from intake.geocoding.local import LocalGeocoder
from intake.geocoding.matcher import Street

_NUMBER = re.compile(r"^\s*(\d{1,5})\s*(bis|ter|quater|[a-d])?\b[\s,]*", re.IGNORECASE)


@dataclass(frozen=True)
class Suggestion:
    """One proposal: a label to show and fill in, and its position."""

    label: str
    lat: float
    lon: float
    kind: str  # housenumber | street


def _postcode(street: Street) -> str:
    return f" {street.postcode}" if street.postcode else ""


def _rank(street: Street, words: list[str]) -> tuple[int, int, str] | None:
    """Lower is better: every typed word must start a word of the street's name (the last may be partial)."""
    tokens = street.normalized.split()
    positions = []
    for i, word in enumerate(words):
        last = i == len(words) - 1
        hit = next((j for j, t in enumerate(tokens) if (t.startswith(word) if last else t == word)), None)
        if hit is None:
            hit = next((j for j, t in enumerate(tokens) if t.startswith(word)), None)
        if hit is None:
            return None
        positions.append(hit)
    skipped_type = 0 if positions and positions[0] == 0 else 1  # "lepic" for "rue lepic" ranks after "lepic…"
    return skipped_type, len(tokens), street.normalized


def suggest(geocoder: LocalGeocoder, typed: str, *, limit: int = 8) -> list[Suggestion]:
    """Up to `limit` addresses of the loaded commune(s) for a partial input like "12 rue de la roq"."""
    typed = (typed or "")[:200]
    match = _NUMBER.match(typed)
    numero, rep = (int(match.group(1)), (match.group(2) or "").lower()) if match else (None, "")
    rest = typed[match.end() :] if match else typed
    words = normalize_street(rest).split()
    if not words or sum(len(w) for w in words) < 2:
        return []
    ranked = sorted(
        ((rank, street.id), street) for street in geocoder.streets() if (rank := _rank(street, words)) is not None
    )
    out: list[Suggestion] = []
    seen: set[str] = set()
    for _, street in ranked:
        if numero is not None:
            point = street.points.get((numero, rep)) or street.points.get((numero, ""))
            if point is not None:
                label = f"{numero}{' ' + rep if rep and (numero, rep) in street.points else ''} {street.name}"
                out.append(
                    Suggestion(f"{label},{_postcode(street)} {street.city}".strip(), point[1], point[0], "housenumber")
                )
                continue
        label = f"{street.name},{_postcode(street)} {street.city}".strip()
        if label not in seen:
            seen.add(label)
            out.append(Suggestion(label, street.lat, street.lon, "street"))
        if len(out) >= limit:
            break
    return out[:limit]
