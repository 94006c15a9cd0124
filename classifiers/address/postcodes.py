"""Postcodes and arrondissements written in a message: "75011", "Paris 11e", "11ème arrondissement"."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

_ORDINAL = re.compile(r"(\d{1,2})(?:e|er|ere|eme|ieme|em|me)")
_CITIES = frozenset({"paris", "lyon", "marseille"})
_ARRONDISSEMENT = frozenset({"arrondissement", "arr", "arrdt", "ardt", "arrondt"})
_SKIP = _CITIES | _ARRONDISSEMENT | {"a", "dans", "le", "la", "l", "en", "cedex", "france"}


def arrondissements(codes: Iterable[str]) -> dict[int, tuple[str, ...]]:
    """Arrondissement number -> postcodes, for communes that have them (Paris 75001…75020 and 75116, Lyon,
    Marseille): only where the codes of one 3-digit prefix include the 1st, 2nd and 3rd."""
    codes = sorted(set(codes))
    numbers: dict[str, set[int]] = {}
    for code in codes:
        numbers.setdefault(code[:3], set()).add(int(code[-2:]))
    prefixes = {p for p, found in numbers.items() if {1, 2, 3} <= found}
    out: dict[int, list[str]] = {}
    for code in codes:
        n = int(code[-2:])
        if 0 < n <= 20 and (code[:3] in prefixes or (code[2] == "1" and f"{code[:2]}0" in prefixes)):
            out.setdefault(n, []).append(code)
    return {n: tuple(found) for n, found in out.items()}


class Postcodes:
    """The commune's postcodes, and how to read them (or an arrondissement) from normalised words."""

    def __init__(self, codes: Iterable[str]) -> None:
        self.codes = frozenset(c for c in codes if len(c) == 5 and c.isdigit())
        self.arrondissements = arrondissements(self.codes)

    def at(self, words: Sequence[str], k: int, *, loose: bool) -> tuple[str, ...]:
        """The postcodes words[k] stands for; a bare "11e" counts only when `loose` (right after a street)."""
        word = words[k]
        if len(word) == 5 and word.isdigit():
            return (word,) if not self.codes or word in self.codes else ()
        if not self.arrondissements:
            return ()
        m = _ORDINAL.fullmatch(word)
        if m and (
            loose
            or (k + 1 < len(words) and words[k + 1] in _ARRONDISSEMENT)
            or (k > 0 and words[k - 1] in _CITIES)
            or words[max(k - 2, 0) : k] == ["dans", "le"]
        ):
            return self.arrondissements.get(int(m.group(1)), ())
        if word in _CITIES and k + 1 < len(words) and words[k + 1].isdigit() and len(words[k + 1]) <= 2:
            return self.arrondissements.get(int(words[k + 1]), ())
        return ()

    def near(self, words: Sequence[str], k: int) -> tuple[str, ...]:
        """A postcode or arrondissement in the few words from words[k] ("…, 75011 Paris", "… (11e)")."""
        for j in range(k, min(k + 4, len(words))):
            found = self.at(words, j, loose=True)
            if found:
                return found
            if words[j] not in _SKIP:
                break
        return ()

    def anywhere(self, words: Sequence[str], accept: Callable[[int], bool]) -> tuple[str, ...]:
        """The first postcode or arrondissement of the text among the words `accept` lets through."""
        for j, word in enumerate(words):
            if word[0] <= "9" or word in _CITIES:
                found = self.at(words, j, loose=False)
                if found and accept(j):
                    return found
        return ()
