"""House numbers around a street name: "au 12 bis rue …", "rue … n°12", "rue …, devant le 12"."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_NUMBER = re.compile(r"(\d{1,4})(bis|ter|quater|b|t)?")
_AFTER = re.compile(r"(?:n|no)?(\d{1,4})(bis|ter|quater|b|t)?")  # "bd Ornano n66", "bd Pereire 178"
REPS = {"bis": "bis", "ter": "ter", "quater": "quater", "b": "bis", "t": "ter", "q": "quater"}
_LETTERS = frozenset("cfgmprsvz")  # "24 M rue …": BAN letter suffixes
_GLUE = frozenset({"de", "la", "du", "l", "d"})  # "au 12 de la rue …"
_MARK = frozenset({"n", "no", "numero", "num"})
_CUES = frozenset(
    {"devant", "face", "niveau", "hauteur", "droit", "vers", "autour", "pres", "cote", "coin", "abords", "numero", "au"}
)
_CUE_GLUE = _GLUE | _MARK | {"le", "au", "des"}
_NOT_NUMBER = frozenset(
    {
        "h",
        "heure",
        "heures",
        "jour",
        "jours",
        "nuits",
        "semaines",
        "mois",
        "min",
        "minutes",
        "ans",
        "fois",
        "m",
        "metres",
        "cm",
        "km",
        "e",
        "eme",
        "etage",
        "janvier",
        "fevrier",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "aout",
        "septembre",
        "octobre",
        "novembre",
        "decembre",
    }
)
_REACH = 50  # words between a street and "devant le 12"


@dataclass(frozen=True)
class HouseNumber:
    """A number found for a street: its words [first, last) and whether it stood apart ("…, devant le 9")."""

    numero: str
    rep: str | None
    first: int
    last: int
    apart: bool = False


def _rep(words: Sequence[str], k: int) -> str | None:
    if k < len(words) and (words[k] in REPS or words[k] in _LETTERS):
        return REPS.get(words[k], words[k])
    return None


def before(words: Sequence[str], gap: Callable[[int], str], start: int) -> HouseNumber | None:
    """The number just before the street starting at words[start]; gap(k) is the text before words[k]."""
    j = start - 1
    while j > 0 and words[j] in _GLUE and start - j <= 2:
        j -= 1
    rep = None
    if j > 0 and (words[j] in REPS or words[j] in _LETTERS) and words[j - 1].isdigit():
        rep, j = REPS.get(words[j], words[j]), j - 1
    m = _NUMBER.fullmatch(words[j]) if j >= 0 else None
    if m is None or int(m.group(1)) == 0:
        return None
    numero, rep = m.group(1), REPS[m.group(2)] if m.group(2) else rep
    if j > 0 and words[j - 1].isdigit() and len(words[j - 1]) <= 4 and gap(j).strip() in ("-", "/"):
        j, numero = j - 1, words[j - 1]  # "10-12 rue …": the first number of a range
    return HouseNumber(str(int(numero)), rep, j, start)


def after(words: Sequence[str], gap: Callable[[int], str], end: int, limit: int) -> HouseNumber | None:
    """A number following the street ending at words[end]: right after it ("bd Pereire 178", "rue X n°12") or
    after a place word within the same paragraph ("rue X est sale, surtout devant le 9"), before words[limit]."""
    if end < limit:
        k = end + 1 if words[end] in _MARK and end + 1 < limit else end
        found = _number_at(words, k, limit, _AFTER)
        if found is not None:
            return found
    for k in [k for k in range(end, min(limit, end + _REACH)) if words[k] in _CUES]:
        between = "".join(gap(i) for i in range(end, k + 1))  # only for the few place words there are
        if "\n\n" in between or ("." in between and k > end + 25):
            break
        j = k + 1
        while j < limit and words[j] in (_MARK if words[k] == "au" else _CUE_GLUE) and j - k <= 3:
            j += 1
        found = _number_at(words, j, limit, _NUMBER)
        if found is not None:
            return HouseNumber(found.numero, found.rep, found.first, found.last, apart=True)
    return None


def _number_at(words: Sequence[str], k: int, limit: int, pattern: re.Pattern[str]) -> HouseNumber | None:
    m = pattern.fullmatch(words[k]) if k < limit else None
    if m is None or int(m.group(1)) == 0:
        return None
    rep = REPS[m.group(2)] if m.group(2) else _rep(words, k + 1) if k + 1 < limit else None
    last = k + 1 + (rep is not None and not m.group(2))
    if last < len(words) and words[last] in _NOT_NUMBER:
        return None
    if last < len(words) and all(w in _GLUE for w in words[last:limit]) and limit < len(words):
        return None  # "rue X 12 rue Y": 12 belongs to the next street
    return HouseNumber(str(int(m.group(1))), rep, k, last)
