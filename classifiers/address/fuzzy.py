"""Typo-tolerant word lookup: a deletion-neighbourhood index (SymSpell style) over street-name words."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from classifiers.text import deletions, edit_distance

MIN_LENGTH = 4  # shorter words are too easily one edit away from another word
LONG_WORD = 8  # words this long may be two edits away


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
        scored = [(edit_distance(word, known, budget), known) for known in found if known != word and accept(known)]
        return sorted((d, k) for d, k in scored if d <= budget and d <= max_edits(max(word, k, key=len)))
