"""Finding street names in a message's words: anchors, exact and typo-tolerant walks, intersections."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from classifiers.address.gazetteer import CUT, CUT_MIN, PARTICLES, STREET_TYPES, Gazetteer, Street, WordTrie
from classifiers.address.numbers import REPS
from classifiers.text import ABBREVIATIONS, DOTTED_ONLY, RESIZED, WORD, normalize_street, normalize_text, offsets

CROSS = frozenset({"angle", "coin", "croisement", "intersection", "carrefour", "jonction"})
_CONNECT = CROSS | PARTICLES | {"et", "x", "avec", "a", "au"}
_SHORT = frozenset(ABBREVIATIONS)
# People mix these up ("rue Daumesnil" for Avenue Daumesnil); not the others: "porte de Bagnolet" is a place,
# not Rue de Bagnolet, and "place de l'église" is not Rue de l'Église.
_LOOSE_TYPES = frozenset({"rue", "avenue", "boulevard"})
_FIRST, _TYPE, _FAUBOURG, _CROSSING = 1, 2, 4, 8  # what a word may start (bit flags)
_NUMBER = re.compile(r"\d{1,4}(?:bis|ter|quater|b|t)?")
_CROSS_CUE = re.compile(r"\b(?:angle|coin|croisement|carrefour|intersection|jonction)\b[^.\n]{0,30}$")


@dataclass(slots=True)
class Hit:
    """Words [start, end) naming streets (several when found without their type) or a landmark."""

    start: int
    end: int
    streets: list[Street]
    edits: int = 0
    penalty: float = 0.0  # found without its street type, with another one, or by its last words
    landmark: str | None = None
    second: list[Street] | None = None
    crossing: bool = False  # found after "angle"/"croisement": kept only with a second street


class Words:
    """One message seen as normalised words with their spans, from the first anchor on."""

    def __init__(self, text: str, norm: str, start: int = 0) -> None:
        self.text, self.norm = text, norm
        self.codes: tuple[str, ...] | None = None  # the first postcode written in the text, once looked for
        self._shifted = not text.isascii() and RESIZED.search(text) is not None
        self._offsets: list[int] | None = None  # computed on demand, when normalising moved characters
        matches = list(WORD.finditer(norm, start))
        self.spans = spans = [m.span() for m in matches]
        self.words = words = [m.group() for m in matches]
        if not _SHORT.isdisjoint(words):
            for k, w in enumerate(words):
                if w in ABBREVIATIONS and (w not in DOTTED_ONLY or norm[spans[k][1] : spans[k][1] + 1] == "."):
                    words[k] = ABBREVIATIONS[w]

    def gap(self, k: int) -> str:
        """The normalised text between word k-1 and word k."""
        return self.norm[self.spans[k - 1][1] if k else 0 : self.spans[k][0]]

    def capital(self, k: int) -> bool:
        """Whether word k exists and is capitalised in the original text (a name going on: "Ferdinand-Brunot")."""
        return k < len(self.spans) and self.text[self.raw(self.spans[k][0])].isupper()

    def raw(self, index: int) -> int:
        """The offset in the original text of an offset in the normalised one."""
        if not self._shifted:
            return index
        if self._offsets is None:
            self._offsets = offsets(self.text)
        return self._offsets[index]


def _alternation(words: Iterable[str]) -> str:
    """A regex matching any of `words`, factored as a trie so that each position costs a few comparisons."""
    tree: dict[str, Any] = {}
    for word in words:
        node = tree
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        branches = [re.escape(c) + build(child) for c, child in sorted(node.items()) if c]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 and "" not in node else f"(?:{'|'.join(branches)})"
        return f"{body}?" if "" in node else body

    return build(tree)


class Scanner:
    """Finds street, landmark and intersection hits among a message's words."""

    def __init__(self, gazetteer: Gazetteer, landmarks: Iterable[tuple[str, list[str]]]) -> None:
        self.gazetteer = g = gazetteer
        self.landmarks = WordTrie()
        raw_first: set[str] = set()
        for label, aliases in landmarks:
            for alias in (label, *aliases):
                if words := normalize_street(alias).split():
                    self.landmarks.add(words, label)
                    raw_first.update(WORD.findall(normalize_text(alias))[:1])
        flags: dict[str, int] = {}
        for group, flag in (
            (g.first_words, _FIRST),
            (STREET_TYPES, _TYPE),
            (CROSS, _CROSSING),
            (("faubourg",), _FAUBOURG),
        ):
            for w in group:
                flags[w] = flags.get(w, 0) | flag
        self.flags = flags
        self.landmark_first = frozenset(k.split()[0] for k in self.landmarks.terms)
        self.starts = frozenset(flags) | self.landmark_first
        literal = set(self.starts) | raw_first
        literal |= {k for k, v in ABBREVIATIONS.items() if v in literal}
        # Nothing can start before the first match: the words are read from there on.
        self.prefilter = re.compile(r"[0-9]|\b" + _alternation(literal) + r"\b")

    def hits(self, t: Words) -> list[Hit]:
        """Street and landmark hits, left to right, without overlaps."""
        words, flags, g, starts = t.words, self.flags, self.gazetteer, self.starts
        if "." in t.norm:
            self._mark_cut(t)
        n, found, skip_to = len(words), [], 0
        for i in [i for i, w in enumerate(words) if w in starts or w[0] <= "9"]:
            if i < skip_to:
                continue
            w, hit = words[i], None
            flag = flags.get(w, 0)
            if flag & _FIRST and (walk := g.walk(g.full, words, i, fuzzy=True)) is not None:
                hit = Hit(i, walk.end, g.candidates(g.full, walk.key), walk.edits)
            if (
                flag & _TYPE
                and i + 1 < n
                and (hit is None or (hit.end < n and f"{words[hit.end - 1]} {words[hit.end]}" in g.pairs))
            ):
                tail = self._guess(words, i + 1, g.tail, penalty=0.05, kinds=(w,))  # "rue Rostropovitch"
                if tail is not None and (hit is None or tail.end > hit.end) and not t.capital(tail.end):
                    hit = tail
                if hit is None and w in _LOOSE_TYPES:  # "rue Daumesnil": Avenue Daumesnil
                    hit = self._guess(words, i + 1, g.core, penalty=0.15, kinds=_LOOSE_TYPES)
                if hit is not None:
                    hit.start = i
            if hit is None and w in self.landmark_first:
                hit = self._landmark(words, i)
            if hit is None and flag & _FAUBOURG:
                hit = self._guess(words, i, g.core, penalty=0.1)  # "faubourg st antoine"
            if hit is None and flag & _CROSSING and i + 1 < n and not flags.get(words[i + 1], 0) & (_FIRST | _TYPE):
                if (hit := self._guess(words, i + 1, g.core, penalty=0.15)) is not None:
                    hit.crossing = True  # "angle pyrenees / bagnolet"
            if hit is None and w[0] <= "9" and _NUMBER.fullmatch(w):
                k = i + 2 if i + 2 < n and words[i + 1] in REPS else i + 1
                if (
                    k < n
                    and (words[k] in g.rest.prefixes or words[k] in g.core.prefixes)
                    and not flags.get(words[k], 0) & (_FIRST | _TYPE)
                    and "\n" not in t.gap(k)
                ):
                    hit = self._guess(words, k, g.rest, skip=False, penalty=0.15) or self._guess(
                        words, k, g.core, skip=False, penalty=0.15, shortest=5
                    )  # "au 40 des pyrenees"
            if hit is not None:
                found.append(hit)
                skip_to = hit.end
        return (
            self._join(t, found) if found and (not CROSS.isdisjoint(words) or "/" in t.norm or "&" in t.norm) else found
        )

    def _mark_cut(self, t: Words) -> None:
        """Mark the words cut short with a dot ("rep." in "av. de la Rép."): the beginning of a name's word only."""
        g, words, norm = self.gazetteer, t.words, t.norm
        for k, w in enumerate(words):
            end = t.spans[k][1]
            if (
                norm[end : end + 1] == "."
                and len(w) >= CUT_MIN
                and w not in g.words
                and w in g.beginnings
                and w.isalpha()
            ):
                words[k] = w + CUT

    def _guess(
        self,
        words: list[str],
        k: int,
        trie: WordTrie,
        *,
        penalty: float,
        skip: bool = True,
        kinds: Iterable[str] | None = None,
        shortest: int = 0,
    ) -> Hit | None:
        """A street named without its type, with another type, or by its last words: exact words only."""
        start = k
        while skip and k < len(words) - 1 and words[k] in PARTICLES and k - start < 3:
            k += 1
        walk = self.gazetteer.walk(trie, words, k, fuzzy=False) if k < len(words) else None
        if walk is None or len(walk.key) < shortest:
            return None
        streets = self.gazetteer.candidates(trie, walk.key)
        if kinds is not None:
            streets = [s for s in streets if s.type in kinds]
        return Hit(start, walk.end, streets, penalty=penalty) if streets else None

    def _landmark(self, words: list[str], i: int) -> Hit | None:
        walks = [self.gazetteer.walk(self.landmarks, words, j, fuzzy=False) for j in (i, i + 1) if j < len(words)]
        found = [w for w in walks if w is not None]
        if not found:
            return None
        walk = max(found, key=lambda w: w.end)
        return Hit(i, walk.end, [], landmark=sorted(self.landmarks.terms[walk.key])[0])

    def _join(self, t: Words, hits: list[Hit]) -> list[Hit]:
        """Merge "angle rue X / rue Y" (or "… et Y" after a crossing word) into one intersection."""
        out: list[Hit] = []
        for hit in hits:
            prev = out[-1] if out else None
            if (
                prev is not None
                and hit.streets
                and prev.streets
                and prev.second is None
                and self._crossing(t, prev, hit.start)
            ):
                prev.second, prev.end = hit.streets, hit.end
                continue
            out.append(hit)
        words = t.words
        for hit in out:
            if hit.second is not None or not hit.streets or not self._cue(t, hit.start):
                continue
            k = hit.end  # "au croisement de la rue X et Y", "angle X / Y": the second street without its type
            while k < len(words) - 1 and words[k] in _CONNECT and k - hit.end < 4:
                k += 1
            if k >= len(words) or not ("et" in words[hit.end : k] or any(c in t.gap(k) for c in "/&")):
                continue
            other = self._guess(words, k, self.gazetteer.core, penalty=0.0)
            if other is not None and not any(h.start < other.end and other.start < h.end for h in out):
                hit.second, hit.end = other.streets, other.end
        return [h for h in out if h.second is not None or not h.crossing]

    def _cue(self, t: Words, k: int) -> bool:
        at = t.spans[k][0]
        return _CROSS_CUE.search(t.norm, max(0, at - 45), at) is not None

    def _crossing(self, t: Words, prev: Hit, start: int) -> bool:
        if start - prev.end > 5 or any(w not in _CONNECT for w in t.words[prev.end : start]):
            return False
        between = "".join(t.gap(k) for k in range(prev.end, start + 1))
        if "." in between or "\n" in between:
            return False
        return (
            self._cue(t, prev.start)
            or not CROSS.isdisjoint(t.words[prev.end : start])
            or any(c in between for c in "/&")
            or " x " in between
        )
