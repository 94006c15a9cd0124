"""Finds addresses, streets, intersections and landmarks in a citizen's message and picks the problem's one."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from classifiers.address import numbers
from classifiers.address.context import Context
from classifiers.address.gazetteer import Gazetteer, Street, StreetEntry
from classifiers.address.postcodes import Postcodes
from classifiers.address.scan import Hit, Scanner, Words
from classifiers.text import normalize_street, normalize_text

_MAJOR_TYPES = frozenset({"rue", "avenue", "boulevard", "place", "quai"})
_POSTCODE = re.compile(r"\b\d{5}\b")
_BASE = {"address": 0.9, "intersection": 0.85, "street": 0.7, "landmark": 0.6}
_CUE = re.compile(
    r"(?:en face|face a|devant|au niveau|hauteur|a cote|pres|proche|angle|coin|croisement|carrefour"
    r"|situee?|localisee?|adresse|lieu|endroit|trottoir|au pied|sur|dans)\b[^.\n]{0,12}$"
)


@dataclass(frozen=True)
class AddressMention:
    """One place named in the text, resolved against the gazetteer, with its role and a confidence."""

    kind: str  # "address" | "street" | "intersection" | "landmark"
    voie: str | None  # canonical street name from the gazetteer
    numero: str | None
    rep: str | None  # "bis", "ter", "quater" or a BAN letter
    code_postal: str | None
    second_voie: str | None  # the other street of an intersection
    landmark: str | None  # the configured label of a landmark
    start: int  # character offsets in the text
    end: int
    score: float  # 0..1: confidence that this is where the problem is
    role: str  # "problem" | "sender" | "other"


class AddressExtractor:
    """Gazetteer-based extraction: exact lookups of word sequences after anchors, typo-tolerant on names."""

    def __init__(
        self,
        streets: Iterable[StreetEntry] | Gazetteer,
        *,
        landmarks: Iterable[tuple[str, list[str]]] = (),
        postcodes: Iterable[str] = (),
        ignore: Iterable[str] = (),
    ) -> None:
        self.gazetteer = g = streets if isinstance(streets, Gazetteer) else Gazetteer(streets)
        self.postcodes = Postcodes(set(postcodes) | {pc for s in g.streets.values() for pc in s.postcodes})
        self._scanner = Scanner(g, landmarks)
        self._ignored: set[tuple[str, str | None]] = set()
        for address in ignore:  # the town hall's own addresses, read the way a message would be
            for m in self.mentions(address):
                if m.voie:
                    self._ignored.add((normalize_street(m.voie), m.numero))

    def best(self, text: str) -> AddressMention | None:
        """The location of the problem described in `text`, or None when it names none."""
        return self.extract(text)[0]

    def mentions(self, text: str) -> list[AddressMention]:
        """Every place named in `text`, in order, each with its role and its score."""
        return self._analyse(text)[0]

    def extract(self, text: str) -> tuple[AddressMention | None, list[AddressMention]]:
        """Both at once: the problem's location (as `best`) and every mention (as `mentions`)."""
        found, ctx = self._analyse(text)
        problems = [m for m in found if m.role == "problem"]
        if problems:
            return max(problems, key=lambda m: (m.score, -m.start)), found
        senders = [m for m in found if m.role == "sender" and m.kind in ("address", "street")]
        if senders and ctx is not None and ctx.home():  # "devant chez moi": the sender's own address
            return replace(senders[0], role="problem", score=0.4), found
        return None, found

    def _analyse(self, text: str) -> tuple[list[AddressMention], Context | None]:
        norm = normalize_text(text)
        anchor = self._scanner.prefilter.search(norm)
        if anchor is None:
            return [], None
        t = Words(text, norm, norm.rfind(" ", 0, max(0, anchor.start() - 16)) + 1)  # and a few words before
        hits = self._scanner.hits(t)
        if not hits:
            return [], None
        ctx = Context(norm, until=t.spans[hits[-1].end - 1][1])
        limits = [h.start for h in hits[1:]] + [len(t.words)]
        found: list[tuple[AddressMention, int, int]] = []
        for hit, limit in zip(hits, limits, strict=True):
            if (item := self._mention(t, ctx, hit, limit)) is not None:
                found.append(item)
        if "\n" not in norm or not _POSTCODE.search(norm):  # no letterhead without a line and a postcode
            return [m for m, _, _ in found], ctx
        heads = [m.role == "problem" and ctx.signature_like(s, e) for m, s, e in found]
        others = any(m.role == "problem" and not head for (m, _, _), head in zip(found, heads, strict=True))
        out = []
        for (m, s, _), head in zip(found, heads, strict=True):
            if head:  # "14 rue X\n75011 Paris": the sender's, unless no other place is named; or a clerk's letterhead
                sender = others or ctx.forwarded_after(s)
                m = replace(m, role="sender" if sender else m.role, score=round(m.score * (0.1 if sender else 0.8), 3))
            out.append(m)
        return out, ctx

    def _mention(self, t: Words, ctx: Context, hit: Hit, limit: int) -> tuple[AddressMention, int, int] | None:
        words, number = t.words, None
        if hit.landmark is None and hit.second is None:
            number = numbers.before(words, t.gap, hit.start) or numbers.after(words, t.gap, hit.end, limit)
        first, last = (min(hit.start, number.first), max(hit.end, number.last)) if number else (hit.start, hit.end)
        start, end = t.spans[first][0], t.spans[last - 1][1]
        codes = self.postcodes.near(words, hit.end)
        if not codes and number is not None and not number.apart:
            codes = self.postcodes.near(words, number.last)

        def anywhere() -> tuple[str, ...]:  # the text's first postcode, read once and only when a street needs it
            if t.codes is None:
                t.codes = self.postcodes.anywhere(words, lambda j: ctx.role(t.spans[j][0]) == "problem")
            return t.codes

        street, postcode = self._resolve(hit.streets, codes, anywhere)
        second = self._resolve(hit.second, codes, anywhere)[0] if hit.second else None
        if (hit.streets and street is None) or (hit.second and second is None):
            return None
        kind = "landmark" if hit.landmark else "intersection" if second else "address" if number else "street"
        role = ctx.role(t.spans[number.first][0] if number and number.apart else start)
        ignored = self._ignored
        if (
            ignored
            and street
            and ((street.key, number.numero if number else None) in ignored or (street.key, None) in ignored)
        ):
            role = "other"
        score = _BASE[kind] - 0.1 * hit.edits - hit.penalty + (0.03 if codes and postcode in codes else 0.0)
        score += 0.05 if _CUE.search(t.norm, max(0, start - 30), start) else 0.0
        if ctx.headers and ctx.in_subject(start):
            score *= 0.8
        score = 0.0 if role == "other" else score * 0.1 if role == "sender" else score
        # A frozen dataclass's __init__ costs 2.7 µs (one object.__setattr__ per field): filled directly instead.
        mention = object.__new__(AddressMention)
        mention.__dict__.update(
            kind=kind,
            voie=street.name if street else None,
            numero=number.numero if number else None,
            rep=number.rep if number else None,
            code_postal=postcode,
            second_voie=second.name if second else None,
            landmark=hit.landmark,
            start=t.raw(start),
            end=t.raw(end),
            score=round(min(max(score, 0.0), 1.0), 3),
            role=role,
        )
        return mention, start, end

    def _resolve(
        self, streets: list[Street], codes: tuple[str, ...], anywhere: Callable[[], tuple[str, ...]]
    ) -> tuple[Street | None, str | None]:
        """One street and its postcode: the one written next to it, else the street's own when it has one, else
        one written elsewhere in the text; homonyms are told apart with these postcodes."""
        if len(streets) > 1:
            written = codes or anywhere()
            streets = [s for s in streets if s.postcodes.intersection(written)] or streets
            if len(streets) > 1:  # "151 bis cardinet": Rue Cardinet rather than Passage Cardinet
                major = [s for s in streets if s.type in _MAJOR_TYPES]
                streets = major if len(major) == 1 else streets
        if len(streets) != 1:
            return None, None
        street = streets[0]
        if codes:
            return street, next((c for c in codes if c in street.postcodes), codes[0])
        if len(street.postcodes) == 1:
            return street, next(iter(street.postcodes))
        return street, next((c for c in anywhere() if c in street.postcodes), None)
