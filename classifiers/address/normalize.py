"""Text normalisation for street matching: lower case, no accents, ligatures, abbreviations."""

from __future__ import annotations

import re
import unicodedata

# Abbreviations of street types and of words inside street names, token by token (after normalisation).
# "qu" (quai) is left out on purpose: apostrophes split "qu'il" into "qu il"; the extractor takes "qu." only.
ABBREVIATIONS: dict[str, str] = {
    "r": "rue", "bd": "boulevard", "bld": "boulevard", "blvd": "boulevard", "bvd": "boulevard",
    "av": "avenue", "ave": "avenue", "pl": "place", "imp": "impasse", "all": "allee", "sq": "square",
    "fg": "faubourg", "fbg": "faubourg", "st": "saint", "ste": "sainte", "crs": "cours", "pass": "passage",
    "rte": "route", "ch": "chemin", "chem": "chemin", "prom": "promenade", "pte": "porte", "gal": "general",
    "dr": "docteur", "pr": "professeur", "cdt": "commandant", "mal": "marechal", "pdt": "president",
    "mgr": "monseigneur",
    # numbers in names are written both ways ("Rue du Quatre-Septembre", "Rue du 4 Septembre"); not "neuf"
    "deux": "2", "trois": "3", "quatre": "4", "cinq": "5", "six": "6", "sept": "7", "huit": "8", "dix": "10",
    "onze": "11", "douze": "12", "treize": "13", "quatorze": "14", "quinze": "15", "seize": "16", "vingt": "20",
}

_NAME_ABBREVIATIONS = {**ABBREVIATIONS, "qu": "quai"}
WORD = re.compile(r"[a-z0-9]+")


def _build_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0x41, 0x250):
        char = chr(code)
        plain = "".join(c for c in unicodedata.normalize("NFKD", char.lower()) if not unicodedata.combining(c))
        if plain != char and plain.isascii():
            table[code] = plain
    table.update({ord("œ"): "oe", ord("Œ"): "oe", ord("æ"): "ae", ord("Æ"): "ae", ord("ß"): "ss"})
    table.update({code: "" for code in range(0x300, 0x370)})  # combining marks of decomposed (NFD) input
    table.update({ord(c): "'" for c in "’‘ʼ´`"})
    table.update({ord(c): "-" for c in "‐‑‒–—"})
    table.update({ord(c): " " for c in "\u00a0\u202f\u2009"})
    return table


_TABLE = _build_table()
# The same as a list indexed by code point: str.translate looks a list up faster than a dict (None deletes).
_LIST: list[str | None] = [_TABLE.get(code, chr(code)) or None for code in range(max(_TABLE) + 1)]

_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
RESIZED = re.compile("[œŒæÆßİ\u0300-\u036f]")  # the characters normalize_text() does not map one to one


def normalize_text(text: str) -> str:
    """Lower-case `text` and strip its accents; same length as `text` unless it holds œ, æ, ß or NFD marks."""
    low = text.lower()
    return low if low.isascii() else low.translate(_LIST)


def offsets(text: str) -> list[int]:
    """For each character of `normalize_text(text)`, the index of the character of `text` it comes from, and
    len(text) at the end. ASCII characters map one to one; only the others are looked at one by one."""
    out: list[int] = []
    done = 0
    for run in _NON_ASCII.finditer(text):
        out.extend(range(done, run.start()))
        for index in range(run.start(), run.end()):
            out.extend([index] * len(normalize_text(text[index])))
        done = run.end()
    out.extend(range(done, len(text) + 1))
    return out



def normalize_street(text: str) -> str:
    """The comparison form of a street name: "R. du Fg St-Antoine" -> "rue du faubourg saint antoine"."""
    return " ".join(_NAME_ABBREVIATIONS.get(w, w) for w in WORD.findall(normalize_text(text)))
