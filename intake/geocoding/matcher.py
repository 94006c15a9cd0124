"""Street-name matching: exact normalized names, then a token deletion index (SymSpell-like) for typos."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from classifiers.text import STREET_TYPES, deletions, edit_distance, normalize_street
from intake.geocoding.normalize import core_tokens, split_type

EXACT_WORDS = 0.99  # same type and words, other articles: "rue la Havannah" for "Rue de la Havannah"
MISSING_TYPE = 0.95  # "des Pyrénées" for "Rue des Pyrénées"
WRONG_TYPE = 0.8  # "rue Jean Jaurès" for "Avenue Jean Jaurès"
EXTRA_WEIGHT = 0.5  # how much unmatched query words count against a street
MIN_SIMILARITY = 0.7  # below this a street is not proposed at all
_CANDIDATES = 40  # streets fully scored per query, best token evidence first
_LONGEST_WORD = 30  # longer query words are only looked up exactly
_MAX_WORDS = 12  # words of a query looked up; a street name rarely has more


@dataclass(slots=True)
class Street:
    """One street of the in-memory index, with its numbered points."""

    id: int
    citycode: str
    postcode: str | None
    city: str
    name: str
    normalized: str
    kind: str
    lon: float
    lat: float
    points: dict[tuple[int, str], tuple[float, float]] = field(default_factory=dict)
    type: str | None = None
    core: tuple[str, ...] = ()
    _numbers: list[int] | None = None

    def numbers(self) -> list[int]:
        """The street's distinct numbers, sorted."""
        if self._numbers is None:
            self._numbers = sorted({n for n, _ in self.points})
        return self._numbers

    def positions(self) -> list[tuple[float, float]]:
        """(lat, lon) of every point, or of the centre for a street without numbers."""
        return [(lat, lon) for lon, lat in self.points.values()] or [(self.lat, self.lon)]


def max_edits(length: int) -> int:
    """Typos tolerated in a word of `length` letters: none up to 3, one up to 6, two beyond."""
    return 0 if length <= 3 else (1 if length <= 6 else 2)


class StreetMatcher:
    """Finds the streets a written street name most likely means, with a similarity in [0, 1]."""

    def __init__(self, streets: Sequence[Street]) -> None:
        self.streets = streets
        self.by_normalized: dict[str, list[int]] = defaultdict(list)
        self.postings: dict[str, list[int]] = defaultdict(list)
        self.deletes: dict[str, list[str]] = defaultdict(list)
        for i, street in enumerate(streets):
            street.type, _ = split_type(street.normalized)
            street.core = core_tokens(street.normalized)
            self.by_normalized[street.normalized].append(i)
            for token in set(street.core):
                self.postings[token].append(i)
        for token in self.postings:
            for variant in deletions(token, max_edits(len(token))) | {token}:
                self.deletes[variant].append(token)
        total = max(1, len(streets))
        self.idf = {t: math.log(1 + total / len(p)) for t, p in self.postings.items()}
        self._token_cache: dict[str, dict[str, int]] = {}
        self._type_cache: dict[str, str] = {}

    def similar_tokens(self, token: str) -> dict[str, int]:
        """Indexed words within the tolerated number of typos of `token`, with their distance."""
        cached = self._token_cache.get(token)
        if cached is not None:
            return cached
        found: dict[str, int] = {token: 0} if token in self.postings else {}
        if len(token) > _LONGEST_WORD:  # no street word is that long: spare the deletion fan-out
            return found
        # one letter more: a 3-letter typo ("jen") may come from a 4-letter word ("jean")
        for variant in deletions(token, max_edits(len(token) + 1)) | {token}:
            for word in self.deletes.get(variant, ()):
                if word not in found:
                    limit = max_edits(max(len(word), len(token)))
                    d = edit_distance(token, word, limit)
                    if d <= limit:
                        found[word] = d
        if len(self._token_cache) > 50_000:
            self._token_cache.clear()
        self._token_cache[token] = found
        return found

    def _fix_type(self, normalized: str) -> str:
        """Correct a typo in a leading street type ("bouleard" -> "boulevard") when no type is recognised."""
        first, _, rest = normalized.partition(" ")
        if not rest or split_type(normalized)[0] is not None or len(first) < 4:
            return normalized
        fixed = self._type_cache.get(first)
        if fixed is None:
            limit = max_edits(len(first))
            fixed = next((t for t in STREET_TYPES if " " not in t and edit_distance(first, t, limit) <= limit), first)
            self._type_cache[first] = fixed
        return f"{fixed} {rest}"

    def match(
        self, text: str, *, allowed: Callable[[Street], bool] | None = None, min_similarity: float = MIN_SIMILARITY
    ) -> list[tuple[float, Street]]:
        """Streets matching `text`, best first, as (similarity, street); 1.0 is an exact normalized match."""
        normalized = self._fix_type(normalize_street(text))
        exact = [
            (1.0, self.streets[i])
            for i in self.by_normalized.get(normalized, ())
            if allowed is None or allowed(self.streets[i])
        ]
        if exact:
            return exact
        qtype, _ = split_type(normalized)
        qcore = core_tokens(normalized)
        if not qcore:
            return []
        qcore = qcore[:_MAX_WORDS]
        near = [self.similar_tokens(t) for t in qcore]
        evidence: dict[int, float] = defaultdict(float)
        for tokens in near:
            for word, d in tokens.items():
                weight = self.idf[word] * (1 - d / (len(word) + 1))
                for i in self.postings[word]:
                    evidence[i] += weight
        ranked = sorted(evidence, key=evidence.__getitem__, reverse=True)
        out: list[tuple[float, Street]] = []
        floor = evidence[ranked[0]] * 0.3 if ranked else 0.0
        for i in ranked[: _CANDIDATES * 4]:
            street = self.streets[i]
            if evidence[i] < floor:
                break
            if allowed is not None and not allowed(street):
                continue
            sim = min(EXACT_WORDS, similarity(qtype, qcore, near, street))
            if sim >= min_similarity:
                out.append((sim, street))
            if len(out) >= _CANDIDATES:
                break
        out.sort(key=lambda item: item[0], reverse=True)
        return out


def similarity(qtype: str | None, qcore: Sequence[str], near: Sequence[dict[str, int]], street: Street) -> float:
    """How well query words (`qcore`, with their typo neighbours `near`) cover a street's identifying words."""
    used: set[int] = set()
    total = matched = 0.0
    for word in street.core:
        total += len(word)
        best, best_j = 0.0, -1
        for j, tokens in enumerate(near):
            d = tokens.get(word)
            if j in used or d is None:
                continue
            sim = 1.0 - d / max(len(word), len(qcore[j]))
            if sim > best:
                best, best_j = sim, j
        if best_j >= 0:
            used.add(best_j)
            matched += len(word) * best
    if not total:
        return 0.0
    extra = sum(len(qcore[j]) for j in range(len(qcore)) if j not in used)
    score = matched / (total + EXTRA_WEIGHT * extra)
    if qtype is None:
        return score * (1.0 if street.type is None else MISSING_TYPE)
    if street.type is None:
        return score * MISSING_TYPE  # "rue X" for a lieu-dit "X"
    return score if qtype == street.type else score * WRONG_TYPE
