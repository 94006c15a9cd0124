"""Readers for address reference files: BAN `adresses-XX.csv`, BAL 1.3 CSV and addok ndjson, row by row."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from classifiers.text import normalize_street, strip_accents
from intake.geocoding.normalize import is_street_type

LIEU_DIT_NUMERO = 99999  # BAL/BAN convention: a named place without a number
_CITYCODE = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")
_NUMERO = re.compile(r"^0*(\d{1,5})\s*([a-z]*)$")
_POSTCODE = re.compile(r"^\d{5}$")
_QUOTES = "\"'“”«» \t"

BAN_COLUMNS = ("numero", "rep", "nom_voie", "code_postal", "code_insee", "nom_commune", "lon", "lat")
BAL_COLUMNS = ("cle_interop", "voie_nom", "numero", "suffixe", "long", "lat")


@dataclass(slots=True)
class AddressRow:
    """One address (or one numberless street / lieu-dit position) read from a reference file."""

    line: int
    citycode: str
    postcode: str | None
    city: str
    street: str
    numero: int | None  # None: a position of the street itself (lieu-dit, street without numbers)
    rep: str
    lon: float
    lat: float
    lieu_dit: str = ""  # lieu-dit complement (BAL `lieudit_complement_nom`, BAN `nom_ld`)
    kind: str = ""  # "" = decided from the name; "lieu-dit" when the file says so


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that could not be used, with its line number in the file (1 = header)."""

    line: int
    message: str


@dataclass
class ReadResult:
    """Everything read from one file: the usable rows, the bad ones, and what was filtered out."""

    format: str = "unknown"  # "ban" | "bal" | "ndjson" | "unknown"
    rows: list[AddressRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    read: int = 0  # data rows (or ndjson addresses) seen
    skipped: int = 0  # outside the requested citycodes
    notes: list[str] = field(default_factory=list)


class BadRow(ValueError):
    """A row value that cannot be used; the message says which."""


def clean_name(value: str, *, lieu_dit: bool = False) -> str:
    """A name with stray quotes and spaces removed ("\" Le Bois Simon" -> "Le Bois Simon")."""
    text = " ".join(value.replace('"', " ").split()).strip(_QUOTES + "-")
    if lieu_dit:
        return re.sub(r"^\d+\s+", "", text)  # "9 Les Loges": the number is the address's, not the place's
    # "9 Rue Bernard Tétu", "- 5 Impasse Marteau": an address number leaked into the street name
    leaked = re.match(r"^[\d\s&/-]*\d[\d\s&/-]*\s(?=\S)", text)
    if leaked and is_street_type(normalize_street(text[leaked.end() :]).split()[0]):
        text = text[leaked.end() :]
    return text


def parse_numero(value: str, rep: str = "") -> tuple[int | None, str]:
    """(numero, rep) from a number column and a suffix column; numero None for the lieu-dit convention."""
    match = _NUMERO.match(strip_accents(value.strip()))
    if not match:
        raise BadRow(f"numero {value!r} is not a number")
    numero = int(match.group(1))
    suffix = normalize_rep(rep or match.group(2))
    return (None, "") if numero == LIEU_DIT_NUMERO else (numero, suffix)


def normalize_rep(value: str) -> str:
    """Repetition index in the stored form: lower case letters only ("Bis" -> "bis", " C" -> "c")."""
    return re.sub(r"[^a-z]", "", strip_accents(value))[:10]


def parse_coord(lon: str, lat: str) -> tuple[float, float]:
    """(lon, lat) in WGS84 decimal degrees, checked for range; decimal commas accepted."""
    try:
        x, y = float(str(lon).strip().replace(",", ".")), float(str(lat).strip().replace(",", "."))
    except ValueError:
        raise BadRow(f"bad coordinates lon={lon!r} lat={lat!r}") from None
    if not (-180 <= x <= 180 and -90 <= y <= 90) or (x == 0 and y == 0) or x != x or y != y:
        raise BadRow(f"coordinates out of range lon={lon!r} lat={lat!r}")
    return round(x, 7), round(y, 7)


def check_citycode(value: str) -> str:
    """An INSEE code (5 characters, Corsica's 2A/2B accepted), upper-cased."""
    code = value.strip().upper()
    if not _CITYCODE.match(code):
        raise BadRow(f"citycode {value!r} is not an INSEE code")
    return code


def detect_format(text: str) -> str:
    """ "ban", "bal", "ndjson" or "unknown", from the start of a file's text."""
    first = text.lstrip("\ufeff \r\n\t")
    if first.startswith("{"):
        return "ndjson"
    header = {h.strip().strip('"').lower() for h in re.split(r"[;,\t]", first.split("\n", 1)[0])}
    if set(BAL_COLUMNS) <= header:
        return "bal"
    if set(BAN_COLUMNS) <= header:
        return "ban"
    return "unknown"


def decode(data: bytes, notes: list[str]) -> str:
    """Text of a file: UTF-8 (BOM or not), else Windows-1252 with a note."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        notes.append("file is not UTF-8: read as Windows-1252")
        return data.decode("cp1252", errors="replace")


def read_reference(path: str | Path, *, citycodes: set[str] | None = None) -> ReadResult:
    """Read a reference file of any supported format; bad rows become errors, never exceptions."""
    result = ReadResult()
    try:
        text = decode(Path(path).read_bytes(), result.notes)
    except OSError as exc:
        result.errors.append(RowError(0, f"cannot read {path}: {exc.strerror or exc}"))
        return result
    result.format = detect_format(text)
    if result.format == "unknown":
        result.errors.append(RowError(1, "unknown format: expected a BAN or BAL 1.3 CSV header, or addok ndjson"))
        return result
    if result.format == "ndjson":
        _read_ndjson(text, citycodes, result)
    else:
        _read_csv(text, citycodes, result)
    return result


def _csv_rows(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    head = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = ";" if ";" in head else ("\t" if "\t" in head else ",")
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter)
    header: list[str] | None = None
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        if header is None:
            header = [h.strip().lower() for h in values]
            continue
        yield reader.line_num, {name: value for name, value in zip(header, values, strict=False) if name}


def _read_csv(text: str, citycodes: set[str] | None, result: ReadResult) -> None:
    bal = result.format == "bal"
    try:
        for line, rec in _csv_rows(text):
            result.read += 1
            try:
                row = _bal_row(line, rec) if bal else _ban_row(line, rec)
            except BadRow as exc:
                result.errors.append(RowError(line, str(exc)))
                continue
            if citycodes is not None and row.citycode not in citycodes:
                result.skipped += 1
            else:
                result.rows.append(row)
    except csv.Error as exc:  # e.g. a NUL byte: stop there, keep what was read
        result.errors.append(RowError(result.read + 2, f"unreadable CSV: {exc}"))


def _required(rec: dict[str, str], name: str) -> str:
    value = (rec.get(name) or "").strip()
    if not value:
        raise BadRow(f"{name} is empty")
    return value


def _ban_row(line: int, rec: dict[str, str]) -> AddressRow:
    citycode = check_citycode(_required(rec, "code_insee"))
    street = clean_name(_required(rec, "nom_voie"))
    if not street:
        raise BadRow("nom_voie is empty")
    numero, rep = parse_numero(_required(rec, "numero"), rec.get("rep", ""))
    lon, lat = parse_coord(_required(rec, "lon"), _required(rec, "lat"))
    postcode = (rec.get("code_postal") or "").strip()
    return AddressRow(
        line,
        citycode,
        postcode if _POSTCODE.match(postcode) else None,
        (rec.get("nom_commune") or "").strip(),
        street,
        numero,
        rep,
        lon,
        lat,
        lieu_dit=clean_name(rec.get("nom_ld", ""), lieu_dit=True),
    )


def _bal_row(line: int, rec: dict[str, str]) -> AddressRow:
    code = (rec.get("commune_insee") or "").strip() or (rec.get("cle_interop") or "").strip()[:5]
    citycode = check_citycode(code)
    street = clean_name(_required(rec, "voie_nom"))
    if not street:
        raise BadRow("voie_nom is empty")
    numero, rep = parse_numero(_required(rec, "numero"), rec.get("suffixe", ""))
    lon, lat = parse_coord(_required(rec, "long"), _required(rec, "lat"))
    return AddressRow(
        line,
        citycode,
        None,
        (rec.get("commune_nom") or "").strip(),
        street,
        numero,
        rep,
        lon,
        lat,
        lieu_dit=clean_name(rec.get("lieudit_complement_nom", ""), lieu_dit=True),
        kind="lieu-dit" if numero is None else "",
    )


def _first(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return "" if value is None else str(value).strip()


def _read_ndjson(text: str, citycodes: set[str] | None, result: ReadResult) -> None:
    municipalities: dict[str, tuple[str, str]] = {}  # citycode -> (postcode, city)
    for line, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict):
                raise BadRow("not a JSON object")
            citycode = check_citycode(_first(doc.get("citycode")))
        except (ValueError, BadRow) as exc:
            result.read += 1
            result.errors.append(RowError(line, f"bad line: {exc}"))
            continue
        if doc.get("type") == "municipality":
            municipalities[citycode] = (_first(doc.get("postcode")), _first(doc.get("city") or doc.get("name")))
            continue
        _ndjson_street(line, doc, citycode, citycodes, result)
    for row in result.rows:  # streets carry no postcode in addok bundles: take their municipality's
        postcode, city = municipalities.get(row.citycode, ("", ""))
        row.postcode = row.postcode or (postcode if _POSTCODE.match(postcode) else None)
        row.city = row.city or city


def _ndjson_street(
    line: int, doc: dict[str, Any], citycode: str, citycodes: set[str] | None, result: ReadResult
) -> None:
    numbers = doc.get("housenumbers") or {}
    if citycodes is not None and citycode not in citycodes:
        result.read += max(1, len(numbers) if isinstance(numbers, dict) else 1)
        result.skipped += max(1, len(numbers) if isinstance(numbers, dict) else 1)
        return
    name = clean_name(_first(doc.get("name")))
    postcode = _first(doc.get("postcode"))
    kind = "lieu-dit" if doc.get("type") == "locality" else ""
    city = _first(doc.get("city"))

    def make(numero: int | None, rep: str, lon: float, lat: float) -> AddressRow:
        return AddressRow(
            line,
            citycode,
            postcode if _POSTCODE.match(postcode) else None,
            city,
            name,
            numero,
            rep,
            lon,
            lat,
            kind=kind,
        )

    if not name or not isinstance(numbers, dict):
        result.read += 1
        result.errors.append(RowError(line, "street without a name" if not name else "housenumbers is not an object"))
        return
    if not numbers:
        result.read += 1
        try:
            lon, lat = parse_coord(doc.get("lon", ""), doc.get("lat", ""))
            result.rows.append(make(None, "", lon, lat))
        except BadRow as exc:
            result.errors.append(RowError(line, str(exc)))
        return
    for key, point in numbers.items():
        result.read += 1
        try:
            numero, rep = parse_numero(str(key))
            if not isinstance(point, dict):
                raise BadRow(f"housenumber {key!r} is not an object")
            lon, lat = parse_coord(point.get("lon", ""), point.get("lat", ""))
            result.rows.append(make(numero, rep, lon, lat))
        except BadRow as exc:
            result.errors.append(RowError(line, f"housenumber {key!r}: {exc}"))
