"""Import of address reference files into address_street/address_point: idempotent bulk upserts."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from classifiers.text import normalize_street
from intake.geocoding.formats import AddressRow, RowError, read_reference
from intake.geocoding.models import AddressPoint, AddressStreet
from intake.geocoding.normalize import city_label, street_kind

PointKey = tuple[int, str]


@dataclass
class StreetData:
    """A street as assembled from a file's rows: canonical name, points, centre."""

    citycode: str
    normalized: str
    name: str
    city: str
    kind: str
    source: str
    points: dict[PointKey, tuple[float, float]] = field(default_factory=dict)
    names: Counter[str] = field(default_factory=Counter)
    postcodes: Counter[str] = field(default_factory=Counter)
    sum_lon: float = 0.0
    sum_lat: float = 0.0
    count: int = 0

    def add_position(self, lon: float, lat: float) -> None:
        """Count one position in the street's centre."""
        self.sum_lon += lon
        self.sum_lat += lat
        self.count += 1

    def best_name(self) -> str:
        """The spelling most rows use, capitalised ones first ("Rue X" over "rue X")."""
        if not self.names:
            return self.name
        return max(self.names.items(), key=lambda item: (item[0][:1].isupper(), item[1]))[0]

    def values(self) -> dict[str, Any]:
        """The address_street columns (without id)."""
        return {
            "citycode": self.citycode,
            "normalized": self.normalized,
            "name": self.best_name(),
            "city": self.city,
            "kind": self.kind,
            "source": self.source,
            "postcode": self.postcodes.most_common(1)[0][0] if self.postcodes else None,
            "lon": round(self.sum_lon / self.count, 7),
            "lat": round(self.sum_lat / self.count, 7),
        }


@dataclass
class Counts:
    """What an import did to one table."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0


@dataclass
class ImportReport:
    """The outcome of importing one file; `errors` lists the bad rows with their line numbers."""

    path: str
    format: str = "unknown"
    rows: int = 0  # data rows read (ndjson: housenumbers)
    skipped: int = 0  # rows of communes outside `citycodes`
    duplicates: int = 0  # same street, number and rep seen again: the first one is kept
    streets: Counts = field(default_factory=Counts)
    points: Counts = field(default_factory=Counts)
    errors: list[RowError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the file was understood (bad rows may still have been reported)."""
        return self.format != "unknown"

    def summary(self) -> str:
        """One line for logs and the CLI."""
        s, p = self.streets, self.points
        return (
            f"{Path(self.path).name} ({self.format}): {self.rows} rows, {len(self.errors)} bad, "
            f"{self.skipped} skipped; streets +{s.inserted} ~{s.updated} ={s.unchanged} -{s.deleted}; "
            f"points +{p.inserted} ~{p.updated} ={p.unchanged} -{p.deleted}; {self.seconds:.2f}s"
        )


def collect_streets(rows: Iterable[AddressRow], *, source: str) -> tuple[dict[tuple[str, str], StreetData], int]:
    """Group address rows into streets (and the lieux-dits they name); returns (streets, duplicates)."""
    streets: dict[tuple[str, str], StreetData] = {}
    duplicates = 0

    def street(row: AddressRow, name: str, kind: str) -> StreetData:
        normalized = normalize_street(name)
        found = streets.get((row.citycode, normalized))
        if found is None:
            found = StreetData(row.citycode, normalized, name, city_label(row.city), kind, source)
            streets[(row.citycode, normalized)] = found
        found.names[name] += 1
        if row.postcode:
            found.postcodes[row.postcode] += 1
        return found

    for row in rows:
        voie = street(row, row.street, row.kind or street_kind(normalize_street(row.street)))
        if row.numero is None:
            voie.add_position(row.lon, row.lat)
        elif (row.numero, row.rep) in voie.points:
            duplicates += 1
        else:
            voie.points[(row.numero, row.rep)] = (row.lon, row.lat)
            voie.add_position(row.lon, row.lat)
        if row.lieu_dit and normalize_street(row.lieu_dit) not in ("", voie.normalized):
            place = street(row, row.lieu_dit, "lieu-dit")
            if place.kind == "lieu-dit":  # a complement naming an existing voie must not move its centre
                place.add_position(row.lon, row.lat)
    return {k: v for k, v in streets.items() if v.normalized and v.count}, duplicates


def import_file(
    factory: sessionmaker[Session], path: str | Path, *, citycodes: set[str] | None = None, prune: bool = False
) -> ImportReport:
    """Import one BAN/BAL/ndjson file; re-importing the same file changes nothing (all rows "unchanged").

    With `prune`, points of the file's streets that the file no longer lists, and streets of the file's
    communes that came from the same source file but are gone from it, are deleted.
    """
    started = time.perf_counter()
    read = read_reference(path, citycodes=citycodes)
    report = ImportReport(str(path), read.format, read.read, read.skipped, errors=read.errors, notes=read.notes)
    if read.rows:
        streets, report.duplicates = collect_streets(read.rows, source=Path(path).name)
        with factory() as session, session.begin():
            ids = _upsert_streets(session, streets, report.streets, prune=prune)
            _upsert_points(session, streets, ids, report.points, prune=prune)
    report.seconds = time.perf_counter() - started
    return report


def import_default_reference(
    factory: sessionmaker[Session], files: Iterable[str | Path], citycodes: set[str] | None = None
) -> list[ImportReport]:
    """Import each configured reference file (restricted to `citycodes` when given), one report per file."""
    return [import_file(factory, path, citycodes=citycodes) for path in files]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) < 5e-8
    return bool(a == b)


def _upsert_streets(
    session: Session, streets: dict[tuple[str, str], StreetData], counts: Counts, *, prune: bool
) -> dict[tuple[str, str], int]:
    codes = sorted({code for code, _ in streets})
    table = AddressStreet.__table__
    columns = [c for c in table.c if c.name != "id"]
    existing = {
        (r.citycode, r.normalized): r for r in session.execute(select(table).where(table.c.citycode.in_(codes)))
    }
    inserts, updates = [], []
    for key, data in streets.items():
        values = data.values()
        row = existing.get(key)
        if row is None:
            inserts.append(values)
        elif all(_same(getattr(row, c.name), values[c.name]) for c in columns):
            counts.unchanged += 1
        else:
            updates.append({"id": row.id, **values})
    if inserts:
        session.execute(insert(AddressStreet), inserts)
    if updates:
        session.execute(update(AddressStreet), updates)
    counts.inserted, counts.updated = len(inserts), len(updates)
    if prune:
        sources = {data.source for data in streets.values()}
        gone = [r.id for key, r in existing.items() if key not in streets and r.source in sources]
        if gone:
            session.execute(delete(AddressPoint).where(AddressPoint.street_id.in_(gone)))
            session.execute(delete(AddressStreet).where(AddressStreet.id.in_(gone)))
        counts.deleted = len(gone)
    return {
        (c, n): i
        for i, c, n in session.execute(
            select(AddressStreet.id, AddressStreet.citycode, AddressStreet.normalized).where(
                AddressStreet.citycode.in_(codes)
            )
        )
    }


def _upsert_points(
    session: Session,
    streets: dict[tuple[str, str], StreetData],
    ids: dict[tuple[str, str], int],
    counts: Counts,
    *,
    prune: bool,
) -> None:
    codes = sorted({code for code, _ in streets})
    mine = {ids[key] for key in streets}
    existing: dict[tuple[int, int, str], tuple[int, float, float]] = {}
    query = (
        select(
            AddressPoint.id,
            AddressPoint.street_id,
            AddressPoint.numero,
            AddressPoint.rep,
            AddressPoint.lon,
            AddressPoint.lat,
        )
        .join(AddressStreet, AddressStreet.id == AddressPoint.street_id)
        .where(AddressStreet.citycode.in_(codes))
    )
    for pid, sid, numero, rep, lon, lat in session.execute(query):
        if sid in mine:
            existing[(sid, numero, rep)] = (pid, lon, lat)
    inserts, updates, seen = [], [], set()
    for key, data in streets.items():
        sid = ids[key]
        for (numero, rep), (lon, lat) in data.points.items():
            seen.add((sid, numero, rep))
            old = existing.get((sid, numero, rep))
            if old is None:
                inserts.append({"street_id": sid, "numero": numero, "rep": rep, "lon": lon, "lat": lat})
            elif _same(old[1], lon) and _same(old[2], lat):
                counts.unchanged += 1
            else:
                updates.append({"id": old[0], "lon": lon, "lat": lat})
    if inserts:
        session.execute(insert(AddressPoint), inserts)
    if updates:
        session.execute(update(AddressPoint), updates)
    counts.inserted, counts.updated = len(inserts), len(updates)
    if prune:
        gone = [pid for key, (pid, _, _) in existing.items() if key not in seen]
        for start in range(0, len(gone), 500):
            session.execute(delete(AddressPoint).where(AddressPoint.id.in_(gone[start : start + 500])))
        counts.deleted = len(gone)
