"""Street types, core words and city labels on top of the shared normaliser (classifiers/text.py)."""

from __future__ import annotations

import re

from classifiers.text import ABBREVIATIONS, STOP_WORDS, STREET_TYPES

_TYPE_SET = frozenset(STREET_TYPES)

_ARRONDISSEMENT = re.compile(r"\s+\d{1,2}\s*(?:er|e|eme|ème)?\s+arrondissement\s*$", re.IGNORECASE)
_SMALL_WORDS = frozenset(
    {"le", "la", "les", "de", "du", "des", "sur", "sous", "en", "et", "aux", "au", "lès", "d", "l"}
)


def _type_of(word: str) -> str | None:
    if word in _TYPE_SET:
        return word
    if word.endswith("s") and word[:-1] in _TYPE_SET:  # "Cités Nouvelles", "Boulevards des Maréchaux"
        return word[:-1]
    return None


def split_type(normalized: str) -> tuple[str | None, str]:
    """Split a normalized street name into its leading street type (or None) and the rest."""
    words = normalized.split()
    if len(words) >= 2 and f"{words[0]} {words[1]}" in _TYPE_SET:
        return f"{words[0]} {words[1]}", " ".join(words[2:])
    if words:
        found = _type_of(words[0])
        if found is not None:
            return found, " ".join(words[1:])
    return None, normalized


def street_type(normalized: str) -> str | None:
    """The street-type word a normalized name starts with ("rue", "lieu dit"...), or None."""
    return split_type(normalized)[0]


def street_kind(normalized: str) -> str:
    """ "voie" for a name starting with a street type, "lieu-dit" otherwise ("Bonvillers Village", "Hameau X")."""
    found = street_type(normalized)
    return "lieu-dit" if found in (None, "lieu dit", "hameau") else "voie"


def is_street_type(word: str) -> bool:
    """Whether one normalized word (or an abbreviation of one) is a street type."""
    return _type_of(ABBREVIATIONS.get(word, word)) is not None


def core_tokens(normalized: str) -> tuple[str, ...]:
    """The identifying words of a normalized street name: without its type, articles and prepositions."""
    rest = split_type(normalized)[1]
    tokens = tuple(t for t in rest.split() if t not in STOP_WORDS)
    return tokens or tuple(rest.split())


def city_label(nom_commune: str) -> str:
    """The city as the national API shows it: "Paris 20e Arrondissement" -> "Paris", "PERRECY-LES-FORGES" ->
    "Perrecy-les-Forges"."""
    name = _ARRONDISSEMENT.sub("", " ".join(nom_commune.split()))
    if name.isupper():
        parts = re.split(r"([ \-'’])", name.lower())
        name = "".join(
            part if (i > 0 and part in _SMALL_WORDS) else part[:1].upper() + part[1:] for i, part in enumerate(parts)
        )
    return name
