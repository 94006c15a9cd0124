"""Exports of a filtered selection of reports as CSV (French Excel) or GeoJSON, streamed in batches.

Personal data (the citizen's name, email, phone, the subject and text they wrote, the staff member who forwarded
it) is only in the columns marked `personal`, which only administrators get.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from intake.backoffice.filters import CHANNELS, ReportFilter, apply
from intake.config import STATUS_CODES, Config
from intake.models import Contact, Report

BATCH = 2000
BOM = "\ufeff"
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection): such cells get a leading '.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
POSITION_SOURCES = {
    "exif": "photo (GPS)",
    "text": "adresse du message",
    "pin": "point placé sur la carte",
    "agent": "agent",
}


@dataclass(frozen=True)
class Column:
    """One exported field: its GeoJSON property name, its CSV header (French), whether it is personal, and its kind
    (text, moment: a date and time, number: our own coordinates)."""

    key: str
    title: str
    personal: bool = False
    kind: Literal["text", "moment", "number"] = "text"


COLUMNS: tuple[Column, ...] = (
    Column("numero", "Numéro"),
    Column("recu_le", "Reçu le", kind="moment"),
    Column("canal", "Canal"),
    Column("categorie", "Catégorie"),
    Column("categorie_code", "Code catégorie"),
    Column("service", "Service"),
    Column("secteur", "Secteur"),
    Column("statut", "Statut"),
    Column("motif_rejet", "Motif de rejet"),
    Column("adresse", "Adresse du problème"),
    Column("code_postal", "Code postal"),
    Column("latitude", "Latitude", kind="number"),
    Column("longitude", "Longitude", kind="number"),
    Column("origine_position", "Origine de la position"),
    Column("doublon_de", "Doublon de"),
    Column("mis_a_jour_le", "Mis à jour le", kind="moment"),
    Column("lien", "Lien"),
    # The same citizen gets the same keyed pseudonym in every export (intake/pseudonyms.py): reports can be
    # counted per reporter without their name, email or phone.
    Column("auteur_pseudonyme", "Pseudonyme du citoyen"),
    Column("objet", "Objet", personal=True),
    Column("description", "Description", personal=True),
    Column("auteur_nom", "Nom du citoyen", personal=True),
    Column("auteur_courriel", "Courriel du citoyen", personal=True),
    Column("auteur_telephone", "Téléphone du citoyen", personal=True),
    Column("transmis_par_nom", "Transmis par", personal=True),
    Column("transmis_par_courriel", "Courriel de qui a transmis", personal=True),
)


def columns(*, personal: bool) -> list[Column]:
    """The exported columns, with the personal ones only when `personal`."""
    return [c for c in COLUMNS if personal or not c.personal]


def neutralise(text: str) -> str:
    """A text cell that a spreadsheet will never run as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).astimezone(zone)  # SQLite: naive UTC


def _csv_text(value: Any, zone: ZoneInfo) -> str:
    return "" if value is None else neutralise(str(value))


def _csv_moment(value: Any, zone: ZoneInfo) -> str:
    if not isinstance(value, datetime):
        return _csv_text(value, zone)
    d = _local(value, zone)
    return f"{d.day:02d}/{d.month:02d}/{d.year:04d} {d.hour:02d}:{d.minute:02d}"


def _csv_number(value: Any, zone: ZoneInfo) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _csv_text(value, zone)
    return f"{value:.6f}".replace(".", ",") if math.isfinite(value) else ""


_CSV_FORMATS: dict[str, Callable[[Any, ZoneInfo], str]] = {
    "text": _csv_text,
    "moment": _csv_moment,
    "number": _csv_number,
}


def csv_cell(value: Any, config: Config) -> str:
    """One CSV cell as French Excel reads it: local dates "JJ/MM/AAAA HH:MM", decimal commas, neutralised text."""
    zone = ZoneInfo(config.town.timezone)
    if isinstance(value, datetime):
        return _csv_moment(value, zone)
    if isinstance(value, float):
        return _csv_number(value, zone)
    return str(value) if isinstance(value, int) else _csv_text(value, zone)


def csv_stream(rows: Iterable[Mapping[str, Any]], cols: list[Column], config: Config) -> Iterator[str]:
    """The CSV file in chunks: UTF-8 BOM, `;` separator, CRLF lines, a header row of French titles."""
    zone = ZoneInfo(config.town.timezone)
    cells = [(c.key, _CSV_FORMATS[c.kind]) for c in cols]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([c.title for c in cols])
    yield BOM + buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    for n, row in enumerate(rows, 1):
        writer.writerow([fmt(row.get(key), zone) for key, fmt in cells])
        if n % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def _json_value(value: Any, zone: ZoneInfo) -> Any:
    if isinstance(value, datetime):
        return _local(value, zone).isoformat(timespec="seconds")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def geojson_stream(rows: Iterable[Mapping[str, Any]], cols: list[Column], config: Config) -> Iterator[str]:
    """A GeoJSON FeatureCollection in chunks: one Point per report (geometry null when it has no position)."""
    zone = ZoneInfo(config.town.timezone)
    props = [c.key for c in cols if c.key not in ("latitude", "longitude")]
    yield '{"type": "FeatureCollection", "features": [\n'
    chunk: list[str] = []
    first = True
    for row in rows:
        lat, lon = row.get("latitude"), row.get("longitude")
        geometry = (
            {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]}
            if isinstance(lat, float) and isinstance(lon, float) and math.isfinite(lat) and math.isfinite(lon)
            else None
        )
        feature = {
            "type": "Feature",
            "geometry": geometry,
            "properties": {key: _json_value(row.get(key), zone) for key in props},
        }
        chunk.append(("" if first else ",\n") + json.dumps(feature, ensure_ascii=False))
        first = False
        if len(chunk) >= 500:
            yield "".join(chunk)
            chunk = []
    yield "".join(chunk) + "\n]}\n"


def _query(config: Config, flt: ReportFilter, *, service_scope: str | None, personal: bool) -> Select[Any]:
    main = aliased(Report)
    fields: list[Any] = [  # _row reads them by position
        Report.id,
        Report.tracking_number,
        Report.created_at,
        Report.channel,
        Report.category,
        Report.service,
        Report.zone,
        Report.status,
        Report.status_reason,
        Report.address_label,
        Report.address_voie,
        Report.address_postcode,
        Report.lat,
        Report.lon,
        Report.location_source,
        Report.updated_at,
        main.tracking_number.label("main_number"),
        Contact.email.label("author_email"),
        Contact.phone.label("author_phone"),
    ]
    if personal:
        fields += [
            Report.subject,
            Report.description,
            Report.forwarded_by_name,
            Report.forwarded_by_email,
            Contact.name.label("author_name"),
        ]
    query = (
        select(*fields)
        .outerjoin(main, main.id == Report.duplicate_of_id)
        .outerjoin(Contact, Contact.id == Report.author_id)
    )
    return apply(query, flt, config, service_scope=service_scope)


@dataclass(frozen=True)
class _Labels:
    """What codes read as, computed once per export."""

    categories: dict[str, str]
    services: dict[str, str]
    statuses: dict[str, str]
    reasons: dict[str, str]
    zone_name: Callable[[str | None], str | None]
    link: Callable[[str], str]
    pseudonym: Callable[[str | None], str | None]


def _labels(config: Config, link: Callable[[str], str], pseudonym: Callable[[str | None], str | None]) -> _Labels:
    from intake.reports.zones import zones_for

    try:
        zones = zones_for(config)
    except Exception:  # a broken zones file must not break an export: codes instead of names
        zones = None
    return _Labels(
        categories={c.code: c.label for c in config.categories},
        services={s.code: s.name for s in config.services},
        statuses={code: config.statuses.label(code) for code in STATUS_CODES},
        reasons={r.code: r.label for r in config.statuses.reject_reasons},
        zone_name=zones.name if zones else (lambda code: code),
        link=link,
        pseudonym=pseudonym,
    )


def _row(r: Any, labels: _Labels, personal: bool) -> dict[str, Any]:
    # positional: a Row's attribute access costs more than the rest of the row at 100,000 rows
    (
        _,
        number,
        created,
        channel,
        category,
        service,
        zone,
        status,
        reason,
        label,
        voie,
        postcode,
        lat,
        lon,
        source,
        updated,
        main_number,
        email,
        phone,
    ) = r[:19]
    row: dict[str, Any] = {
        "numero": number,
        "recu_le": created,
        "canal": CHANNELS.get(channel, channel),
        "categorie": labels.categories.get(category, category),
        "categorie_code": category,
        "service": labels.services.get(service, service),
        "secteur": labels.zone_name(zone),
        "statut": labels.statuses.get(status, status),
        "motif_rejet": labels.reasons.get(reason, reason) if status == "rejete" else None,
        "adresse": label or voie,
        "code_postal": postcode,
        "latitude": lat,
        "longitude": lon,
        "origine_position": POSITION_SOURCES.get(source, source) if lat is not None else None,
        "doublon_de": main_number,
        "mis_a_jour_le": updated,
        "lien": labels.link(number),
        "auteur_pseudonyme": labels.pseudonym(email or phone),
    }
    if personal:
        (row["objet"], row["description"], row["transmis_par_nom"], row["transmis_par_courriel"], row["auteur_nom"]) = (
            r[19:24]
        )
        row["auteur_courriel"], row["auteur_telephone"] = email, phone
    return row


def iter_rows(
    factory: Callable[[], Session],
    config: Config,
    flt: ReportFilter,
    *,
    service_scope: str | None,
    personal: bool,
    link: Callable[[str], str],
    batch: int = BATCH,
    pseudonym: Callable[[str | None], str | None] = lambda _: None,
) -> Iterator[dict[str, Any]]:
    """The selected reports, newest first, as export rows; read by batches, each in its own short session.

    `pseudonym` turns the author's email (or phone) into the keyed pseudonym of column auteur_pseudonyme.

    No transaction stays open while the file is downloaded (SQLite takes its write lock for every transaction).
    """
    labels = _labels(config, link, pseudonym)
    query = _query(config, flt, service_scope=service_scope, personal=personal).order_by(Report.id.desc())
    last: int | None = None
    while True:
        page = query if last is None else query.where(Report.id < last)
        with factory() as session:
            found = session.execute(page.limit(batch)).all()
        for r in found:
            yield _row(r, labels, personal)
        if len(found) < batch:
            return
        last = found[-1].id
