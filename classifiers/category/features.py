"""The text the category model sees: normalised words plus word stems that survive typos and plurals."""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[a-z0-9]+")
_STEM = 5


def fold(text: str) -> str:
    """Lower-case, accents removed, œ/æ expanded: SMS without accents read like careful emails."""
    text = text.lower().replace("œ", "oe").replace("æ", "ae")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def model_text(subject: str, text: str, *, max_chars: int = 4000) -> str:
    """Subject and body as one normalised string of words, then a stem for each long word.

    Stems ("lampa" for lampadaire/lampadere/lampadaires) give the bag-of-words model some robustness to
    typos and inflection without the cost of a convolutional encoder.
    """
    words = _WORD.findall(fold(f"{subject}\n{text[:max_chars]}"))
    stems = [f"_{w[:_STEM]}" for w in words if len(w) > _STEM and not w.isdigit()]
    return " ".join(words + stems)
