"""Typo-tolerant word lookup: a deletion-neighbourhood index (SymSpell style) over street-name words."""

from __future__ import annotations

from collections.abc import Callable, Iterable

MIN_LENGTH = 4        # shorter words are too easily one edit away from another word
LONG_WORD = 8         # words this long may be two edits away


def deletions(word: str, depth: int) -> set[str]:
    """Every string obtained from `word` by removing 1..`depth` characters."""
    out = {word[:i] + word[i + 1:] for i in range(len(word))}
    if depth > 1:
        out |= {d[:i] + d[i + 1:] for d in list(out) for i in range(len(d))}
    return out


def distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (a swap of two neighbours counts 1), or `limit` + 1 when larger."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            best = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                best = min(best, prev2[j - 2] + 1)
            cur[j] = best
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1] if prev[-1] <= limit else limit + 1


def max_edits(word: str) -> int:
    """How many edits a word of this length may carry and still be recognised."""
    return 0 if len(word) < MIN_LENGTH else 1 if len(word) < LONG_WORD else 2


class DeletionIndex:
    """Maps a misspelt word to the known words within one edit (two for long words)."""

    def __init__(self, words: Iterable[str]) -> None:
        self._index: dict[str, set[str]] = {}
        for word in set(words):
            depth = max_edits(word)
            if depth == 0 or word.isdigit():
                continue
            for key in deletions(word, depth) | {word}:
                self._index.setdefault(key, set()).add(word)

    def candidates(self, word: str, budget: int, accept: Callable[[str], bool]) -> list[tuple[int, str]]:
        """Known words that `accept` lets through, within `budget` edits of `word` and within the allowance of
        the longer of the two ("grenel" -> "grenelle": two edits, allowed as "grenelle" is long), nearest first.
        The query side drops one character only: with long words indexed two deep, that finds two missing
        letters or a missing and a wrong one, and keeps the lookup to a dozen keys."""
        if budget <= 0 or len(word) < MIN_LENGTH:
            return []
        found: set[str] = set()
        for key in deletions(word, 1) | {word}:
            found.update(self._index.get(key, ()))
        scored = [(distance(word, known, budget), known) for known in found if known != word and accept(known)]
        return sorted((d, k) for d, k in scored if d <= budget and d <= max_edits(max(word, k, key=len)))
