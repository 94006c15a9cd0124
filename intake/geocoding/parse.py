"""Free-text address parsing: "72 r. des pyrenees 75020 paris" -> AddressQuery(numero, rep, voie, postcode)."""

from __future__ import annotations

import re

from classifiers.text import strip_accents
from intake.geocoding.normalize import is_street_type
from intake.geocoding.protocol import AddressQuery

REPS = ("bis", "ter", "quater", "quinquies", "quinter", "sexies")
_POSTCODE = re.compile(r"(?<![\d.,])(\d{5})(?![\d.,]?\d)")
_ARROND = re.compile(
    r"(?:\b(paris|lyon|marseille)\s*)?\b(\d{1,2})\s*(?:er|ere|e|eme|°)(?:\s*arr(?:ondissement|t|\.)?)?\s*$"
)
_ARROND_PLAIN = re.compile(r"\b(paris|lyon|marseille)\s+(\d{1,2})\s*$")
_FILLER = re.compile(
    r"^(?:(?:juste\s+)?(?:au|devant\s+(?:le|du)|en\s+face\s+du|face\s+au|pres\s+du|vers\s+le|niveau\s+du|"
    r"adresse|situe|situee|lieu)\s*:?\s+)+"
)
_NUMBER = re.compile(
    rf"^(?:n\s*°|no\.?|numero)?\s*(\d{{1,5}})(?:\s*(?:-|/|a|au|et)\s*\d{{1,5}}\b)?"
    rf"(?:\s*({'|'.join(REPS)})\b|([a-z])\b|\s+([a-z])(?=\s+(\S+)))?[\s,]*"
)
_TRAILING_NUMBER = re.compile(
    rf"(?:,\s*n\s*°|,|\bn\s*°|\bno\.?|\bnumero)\s*(\d{{1,5}})\s*({'|'.join(REPS)}|[a-z])?\s*$"
)
_ANGLE = re.compile(
    r"^(?:a\s+)?(?:l\s*)?(?:angle|coin|croisement|intersection)\s+(?:de\s+la|des|du|de\s+l|de|entre)?\s*"
)
_ROMAN_FORM = re.compile(r"x{0,2}(?:ix|iv|v?i{0,3})")
# "XVe", "XIème", "Ve arrondissement", "paris xi": at the end of the line or before a comma
_ROMAN_ARROND = re.compile(
    r"(?<=[a-z0-9,] )([xvi]{1,5})(?:\s*(?:er|e|eme))(?=\s*(?:arr\w*)?\s*(?:$|,))|(?<=paris )([xvi]{1,5})(?=\s*(?:$|,))"
)
_SPLIT = re.compile(r"\s+(?:/|x|et|&|avec)\s+(?:(?:de\s+)?(?:la|l|le|les|du|des)\s+)?|(?<=[a-z])\s*/\s*(?=[a-z])")


def roman(numeral: str) -> int | None:
    """The value of a Roman numeral of arrondissements ("xi" -> 11), None when it is not one (1..20)."""
    values = {"i": 1, "v": 5, "x": 10}
    total = 0
    for k, ch in enumerate(numeral):
        value = values[ch]
        total += -value if k + 1 < len(numeral) and values[numeral[k + 1]] > value else value
    return total if 1 <= total <= 20 and _ROMAN_FORM.fullmatch(numeral) else None


def _arabic(m: re.Match[str]) -> str:
    value = roman(m.group(1) or m.group(2))
    return m.group(0) if value is None else f"{value}e"


def _clean(text: str) -> str:
    """Accent-free lower-case text with apostrophes as spaces, keeping digits, commas and slashes; Roman-numeral
    arrondissements written last ("XVe", "Ve arr.") become "15e", "5e"."""
    plain = strip_accents(text).replace("’", "'")
    plain = re.sub(r"[^a-z0-9,/°&\-.' ]+", " ", plain)
    plain = re.sub(r"['.]|(?<=[a-z])-|-(?=[a-z])", " ", plain)
    plain = " ".join(plain.split())
    return _ROMAN_ARROND.sub(_arabic, plain)


def split_city(text: str) -> tuple[str, str | None, str | None]:
    """(street part, postcode, city) of a cleaned address line."""
    postcode = city = None
    matches = [
        m for m in _POSTCODE.finditer(text) if text[: m.start()].strip(" ,") or not _looks_like_street(text[m.end() :])
    ]  # "12345 route X"
    if matches:
        m = matches[-1]
        postcode = m.group(1)
        city = text[m.end() :].split(",")[0].strip(" -") or None
        text = text[: m.start()]
    elif "," in text:
        chunks = [c.strip() for c in text.split(",")]
        first = next((i for i, c in enumerate(chunks) if re.search(r"[a-z]{2}", c)), 0)
        end = first + 1
        if end < len(chunks) and re.fullmatch(rf"\d{{1,5}}\s*(?:{'|'.join(REPS)}|[a-z])?", chunks[end]):
            chunks[end] = f"n° {chunks[end]}"
            end += 1
        text = ", ".join(chunks[:end])
        city = next((c for c in chunks[end:] if c and not _looks_like_street(c)), None)
    if postcode is None:
        arrond = _ARROND.search(text) or _ARROND_PLAIN.search(text)
        if arrond and text[: arrond.start()].strip(" ,"):
            city = arrond.group(0).strip()
            text = text[: arrond.start()]
    return text.strip(" ,-"), postcode, city


def _looks_like_street(text: str) -> bool:
    words = text.split()
    return bool(words) and is_street_type(words[0])


def split_number(text: str) -> tuple[str | None, str | None, str]:
    """(numero, rep, rest) from the start (or the end, after a comma or "n°") of a street part."""
    text = _FILLER.sub("", text.strip(" ,"))
    m = _NUMBER.match(text)
    if m and text[m.end() :].strip():
        rep = m.group(2) or m.group(3)
        if m.group(4) and is_street_type(m.group(5)):
            rep = m.group(4)  # "12 B rue X": a separated letter counts only before a street type
        end = m.end() if (rep or not m.group(4)) else m.start(4)
        rest = text[end:].strip(" ,-")
        rest = re.sub(r"^(?:\d{1,5}\s+)+(?=[a-z])", "", rest)  # "1 1 passage X", "2 9 rue X"
        return str(int(m.group(1))), rep, rest
    m = _TRAILING_NUMBER.search(text)
    if m and text[: m.start()].strip():
        return str(int(m.group(1))), m.group(2), text[: m.start()].strip(" ,-")
    return None, None, text.strip(" ,-")


def _strip_article(text: str) -> str:
    return re.sub(r"^(?:de\s+la|de\s+l|du|des|de|la|le|les|l)\s+(?=\S)", "", text.strip())


def parse_address(text: str) -> AddressQuery:
    """Parse one free-text address line; parts that cannot be found are None."""
    cleaned = _clean(text)
    street, postcode, city = split_city(cleaned)
    angle = _ANGLE.match(street)
    if angle:
        street = street[angle.end() :]
    second = None
    parts = _SPLIT.split(street, maxsplit=1)
    if len(parts) == 2 and parts[0].strip() and parts[1].strip():
        other = _strip_article(parts[1])
        if angle or _looks_like_street(other):
            street, second = parts[0], other
    numero, rep, voie = split_number(street)
    if not voie:
        return AddressQuery(numero=numero, rep=rep, code_postal=postcode, city=city)
    return AddressQuery(
        voie=_strip_article(voie) if angle else voie,
        numero=numero,
        rep=rep,
        code_postal=postcode,
        city=city,
        second_voie=second,
    )
