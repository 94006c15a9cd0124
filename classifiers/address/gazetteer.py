"""The commune's street gazetteer: canonical names and word-sequence indexes for exact and fuzzy lookup."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from classifiers.address.fuzzy import MIN_LENGTH, DeletionIndex
from classifiers.text import STREET_TYPES as SHARED_TYPES
from classifiers.text import normalize_street

# Street-type words (normalised); a name starting with one can also be found without it or with another one.
# The shared list, plus the plural that starts "Boulevards des Maréchaux".
STREET_TYPES = frozenset(SHARED_TYPES) | {"boulevards"}
PARTICLES = frozenset({"de", "du", "des", "d", "la", "le", "les", "l"})
MAX_WORDS = 12  # longest street name, in words, that a walk follows
CUT_MIN = 3  # letters a word cut short with a dot keeps at least ("Rép.", "Gal."), and a mark for it
CUT = "."


@dataclass(frozen=True)
class StreetEntry:
    """One street of the reference: its name as written there, its postcode and INSEE code."""

    name: str
    postcode: str | None = None
    citycode: str | None = None


@dataclass(frozen=True)
class Street:
    """All entries sharing one normalised name (a street spanning arrondissements, or homonyms)."""

    key: str
    name: str
    entries: tuple[StreetEntry, ...]
    type: str  # the normalised street-type word ("rue"), or "" when the name has none
    postcodes: frozenset[str]  # the postcodes the reference gives it


class Walk(NamedTuple):
    """A match of consecutive words against an index: words [start, end), the matched key, the typos fixed."""

    start: int
    end: int
    key: str
    edits: int


class WordTrie:
    """Word sequences as a set of their prefixes plus the complete ones, each naming street keys."""

    def __init__(self) -> None:
        self.prefixes: set[str] = set()
        self.inner: set[str] = set()  # prefixes that some longer sequence continues
        self.terms: dict[str, set[str]] = {}

    def add(self, words: Sequence[str], value: str) -> None:
        """Index `words` (joined by spaces) as naming `value`."""
        for k in range(1, len(words) + 1):
            self.prefixes.add(" ".join(words[:k]))
            if k < len(words):
                self.inner.add(" ".join(words[:k]))
        self.terms.setdefault(" ".join(words), set()).add(value)


def type_length(words: Sequence[str]) -> int:
    """How many leading words of a normalised name form its street type (0, 1 or 2)."""
    if len(words) > 2 and f"{words[0]} {words[1]}" in STREET_TYPES:
        return 2
    return 1 if len(words) > 1 and words[0] in STREET_TYPES else 0


def allowance(key: str) -> int:
    """How many typos a matched name of this length may carry: none when short, two when long."""
    return 0 if len(key) < 8 else 1 if len(key) < 20 else 2


def load_reference(path: str | Path) -> list[StreetEntry]:
    """The distinct streets of a BAN `adresses-*.csv` or BAL 1.3 file (`;`-separated), in file order."""
    seen: dict[tuple[str, str | None, str | None], None] = {}
    with open(path, encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle, delimiter=";"):
            name = (row.get("nom_voie") or row.get("voie_nom") or "").strip()
            if name:
                postcode = (row.get("code_postal") or "").strip() or None
                citycode = (row.get("code_insee") or row.get("commune_insee") or "").strip() or None
                seen[(name, postcode, citycode)] = None
    return [StreetEntry(name, postcode, citycode) for name, postcode, citycode in seen]


def variants(words: list[str]) -> list[list[str]]:
    """Other ways people write a name: elisions glued ("rue de laqueduc"), a double name's first half
    ("place du trocadero" for "Place du Trocadéro et du 11 Novembre")."""
    out = [words]
    glued: list[str] = []
    for w in words:
        if glued and glued[-1] in ("l", "d") and w[0] in "aeiouyh":
            glued[-1] += w
        else:
            glued.append(w)
    if glued != words:
        out.append(glued)
    if "et" in words[2:-2] and words[words.index("et", 2) + 1] in PARTICLES:  # not "Rue Marie et Louise"
        out.append(words[: words.index("et", 2)])
    return out


class Gazetteer:
    """Street names indexed as word sequences: full ("rue des pyrenees"), without type ("des pyrenees"), core
    ("pyrenees"), tails ("rostropovitch" for "Rue Mstislav Rostropovitch"), plus a typo index over their words."""

    def __init__(self, entries: Iterable[StreetEntry]) -> None:
        groups: dict[str, list[StreetEntry]] = {}
        spellings: Counter[str] = Counter()
        for entry in entries:
            key = normalize_street(entry.name)
            if key and not key[0].isdigit():  # "& 21 Rue Béranger": a number glued to the name in the source
                groups.setdefault(key, []).append(entry)
                spellings[entry.name] += 1
        self.streets: dict[str, Street] = {}
        self.full, self.rest, self.core, self.tail = WordTrie(), WordTrie(), WordTrie(), WordTrie()
        self.pairs: set[str] = set()  # consecutive words of the names ("tour d"), to skip needless walks
        self._cores: list[list[str]] = []
        self._tails: list[tuple[list[str], str]] = []
        for key, group in groups.items():
            name = max(dict.fromkeys(e.name for e in group), key=lambda n: (n[:1].isupper(), spellings[n]))
            words = key.split()
            self.streets[key] = Street(
                key,
                name,
                tuple(dict.fromkeys(group)),
                words[0] if type_length(words) else "",
                frozenset(e.postcode for e in group if e.postcode),
            )
            for words in variants(key.split()):
                self._index(key, words)
        given_names = {w for core in self._cores for w in core[:-1]}
        for core, key in self._tails:  # a lone given name ("charles") is no street's tail: "place Charles de Gaulle"
            if len(core) > 1 or core[0] not in given_names:
                self.tail.add(core, key)
        del self._cores, self._tails
        self.first_words = frozenset(key.split()[0] for key in self.streets)
        self.words = frozenset(w for key in self.streets for w in key.split())
        # Words cut short with a dot ("av. de la Rép."): the beginnings of the names' words, by beginning.
        self.beginnings: dict[str, list[str]] = {}
        for word in sorted(self.words):
            for k in range(CUT_MIN, len(word)):
                self.beginnings.setdefault(word[:k], []).append(word)
        self._fuzzy = DeletionIndex(self.words)

    def _index(self, key: str, words: list[str]) -> None:
        self.full.add(words, key)
        rest = words[type_length(words) :]
        if len(rest) < len(words):
            self.rest.add(rest, key)
        core = list(rest)
        while len(core) > 1 and core[0] in PARTICLES:
            core.pop(0)
        if len(" ".join(core)) >= MIN_LENGTH:
            self.core.add(core, key)
        self._cores.append(core)
        for k, word in enumerate(core):
            if word not in PARTICLES and len(" ".join(core[k:])) >= MIN_LENGTH:
                self._tails.append((core[k:], key))
        self.pairs.update(f"{a} {b}" for a, b in zip(core, core[1:], strict=False))

    def __len__(self) -> int:
        return len(self.streets)

    def walk(self, trie: WordTrie, words: Sequence[str], start: int, *, fuzzy: bool) -> Walk | None:
        """The longest indexed name starting at words[start], fixing typos in the later words if `fuzzy`."""
        key = words[start]
        if key not in trie.prefixes:
            return None
        best = Walk(start, start + 1, key, 0) if key in trie.terms else None
        edits, j, stop = 0, start + 1, min(len(words), start + MAX_WORDS)
        while j < stop:
            following = f"{key} {words[j]}"
            if following not in trie.prefixes and words[j].endswith(CUT):  # "rep." -> "republique", if only one
                fits = {w for w in self.beginnings.get(words[j][:-1], ()) if f"{key} {w}" in trie.prefixes}
                if len(fits) > 1 and j + 1 < len(words):  # "rue des peti. ecuries": the next word decides
                    fits = {w for w in fits if f"{key} {w} {words[j + 1]}" in trie.prefixes}
                following = f"{key} {fits.pop()}" if len(fits) == 1 else following
            if following not in trie.prefixes:
                if not fuzzy or edits >= 2 or key not in trie.inner or words[j][0] <= "9":
                    break
                fixed = self._fix(trie, key, words[j], 2 - edits)
                if fixed is None:
                    break
                edits += fixed[0]
                following = fixed[1]
            key, j = following, j + 1
            if key in trie.terms and edits <= allowance(key):
                best = Walk(start, j, key, edits)
        return best

    def _fix(self, trie: WordTrie, key: str, word: str, budget: int) -> tuple[int, str] | None:
        found = self._fuzzy.candidates(word, budget, lambda known: f"{key} {known}" in trie.prefixes)
        return (found[0][0], f"{key} {found[0][1]}") if found else None

    def candidates(self, trie: WordTrie, key: str) -> list[Street]:
        """The streets an index key names (only the street itself when the key is its full name)."""
        if trie is self.full and key in self.streets:
            return [self.streets[key]]
        return [self.streets[k] for k in sorted(trie.terms.get(key, ()))]
