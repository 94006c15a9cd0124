"""The text the category model sees: normalised words plus word stems that survive typos and plurals."""

from __future__ import annotations

import re

from classifiers.text import strip_accents

_WORD = re.compile(r"[a-z0-9]+")
_STEM = 5


def model_text(subject: str, text: str, *, max_chars: int = 4000) -> str:
    """Subject and body as one normalised string of words, then a stem for each long word.

    Stems ("lampa" for lampadaire/lampadere/lampadaires) give the bag-of-words model some robustness to
    typos and inflection without the cost of a convolutional encoder.
    """
    # accents folded: SMS without accents read like careful emails
    words = _WORD.findall(strip_accents(f"{subject}\n{text[:max_chars]}"))
    stems = [f"_{w[:_STEM]}" for w in words if len(w) > _STEM and not w.isdigit()]
    return " ".join(words + stems)
