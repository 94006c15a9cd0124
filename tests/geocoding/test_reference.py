"""Importing BAN, BAL 1.3 and addok ndjson reference files: counts, idempotence, filters, bad rows."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from intake.geocoding.models import AddressPoint, AddressStreet
from intake.geocoding.reference import import_default_reference, import_file
from tests.geocoding.conftest import BAD_ROWS, DUMBEA, MONT_BONVILLERS, NC, NOUMEA, PARIS, PERRECY

Factory = sessionmaker[Session]


def _count(factory: Factory, model: type[AddressStreet] | type[AddressPoint]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _street(factory: Factory, citycode: str, normalized: str) -> AddressStreet:
    with factory() as session:
        return session.execute(select(AddressStreet).filter_by(citycode=citycode, normalized=normalized)).scalar_one()


def test_import_ban_paris_then_reimport_is_idempotent(factory: Factory) -> None:
    first = import_file(factory, PARIS)
    assert (first.format, first.rows, first.errors, first.skipped) == ("ban", 9055, [], 0)
    # "Place du Trocadéro et du 11 Novembre" and "… du Onze Novembre" are one place: number words are
    # normalised to digits, so its two spellings make one street (and their shared point one duplicate).
    assert (first.streets.inserted, first.points.inserted, first.duplicates) == (3005, 8942, 113)
    assert first.seconds < 5, first.summary()
    print(first.summary())

    again = import_file(factory, PARIS)
    assert (again.streets.inserted, again.streets.updated, again.streets.unchanged) == (0, 0, 3005)
    assert (again.points.inserted, again.points.updated, again.points.unchanged) == (0, 0, 8942)
    assert (_count(factory, AddressStreet), _count(factory, AddressPoint)) == (3005, 8942)

    pyrenees = _street(factory, "75120", "rue des pyrenees")
    assert (pyrenees.name, pyrenees.postcode, pyrenees.city, pyrenees.kind) == (
        "Rue des Pyrénées",
        "75020",
        "Paris",
        "voie",
    )
    assert pyrenees.source == "adresses-paris-extrait.csv"
    # the centre is the mean of the street's points
    with factory() as session:
        lon, lat = session.execute(
            select(func.avg(AddressPoint.lon), func.avg(AddressPoint.lat)).filter_by(street_id=pyrenees.id)
        ).one()
    assert abs(lon - pyrenees.lon) < 1e-6 and abs(lat - pyrenees.lat) < 1e-6


def test_import_bal_mont_bonvillers(factory: Factory) -> None:
    report = import_file(factory, MONT_BONVILLERS)
    assert (report.format, report.rows, report.errors) == ("bal", 486, [])
    assert (report.streets.inserted, report.points.inserted) == (21, 486)
    joffre = _street(factory, "54084", "rue joffre")
    assert (joffre.name, joffre.postcode, joffre.city) == ("Rue Joffre", None, "Mont-Bonvillers")
    assert _street(factory, "54084", "bonvillers village").kind == "lieu-dit"
    with factory() as session:
        reps = set(session.scalars(select(AddressPoint.rep).distinct()))
    assert reps == {"", "a", "b", "bis", "ter", "t"}
    assert import_file(factory, MONT_BONVILLERS).points.unchanged == 486


def test_import_bal_perrecy_odd_quoting_and_lieux_dits(factory: Factory) -> None:
    report = import_file(factory, PERRECY)
    assert (report.format, report.rows, report.errors) == ("bal", 145, [])
    assert (report.streets.inserted, report.points.inserted) == (88, 145)
    bois_simon = _street(factory, "71346", "le bois simon")  # from `""" Le Bois Simon"` complements
    assert (bois_simon.name, bois_simon.kind, bois_simon.city) == ("Le Bois Simon", "lieu-dit", "Perrecy-les-Forges")
    with factory() as session:
        rue = session.execute(select(AddressStreet).filter_by(normalized="rue du bois simon")).scalar_one()
        assert set(session.scalars(select(AddressPoint.rep).filter_by(street_id=rue.id, numero=33))) == {"c", "d", "e"}
        assert session.scalar(select(func.max(AddressPoint.numero))) == 5741
    assert import_file(factory, PERRECY).streets.unchanged == 88


def test_import_ndjson_with_municipality_postcodes(factory: Factory) -> None:
    report = import_file(factory, NC)
    assert (report.format, report.rows, report.errors) == ("ndjson", 1713, [])
    assert (report.streets.inserted, report.points.inserted) == (77, 1713)
    gaiacs = _street(factory, NOUMEA, "rue des gaiacs")
    assert (gaiacs.name, gaiacs.postcode, gaiacs.city) == ("Rue des GAIACS", "98800", "Nouméa")
    assert _street(factory, DUMBEA, "rue du banian").postcode == "98835"
    again = import_file(factory, NC)
    assert (again.streets.unchanged, again.points.unchanged, again.points.inserted) == (77, 1713, 0)


def test_citycode_filter(factory: Factory) -> None:
    report = import_file(factory, PARIS, citycodes={"75120"})
    assert report.rows == 9055 and report.skipped == 9055 - 808
    with factory() as session:
        assert set(session.scalars(select(AddressStreet.citycode).distinct())) == {"75120"}
    nc = import_file(factory, NC, citycodes={NOUMEA})
    assert (nc.streets.inserted, nc.points.inserted, nc.skipped) == (50, 1214, 499)


def test_bad_rows_are_reported_with_line_numbers(factory: Factory) -> None:
    report = import_file(factory, BAD_ROWS)
    assert report.format == "bal" and report.rows == 10
    assert [e.line for e in report.errors] == [4, 6, 7, 8, 9, 10]
    messages = " | ".join(e.message for e in report.errors)
    for expected in (
        "numero 'deux'",
        "bad coordinates",
        "voie_nom is empty",
        "'9999' is not an INSEE code",
        "out of range",
        "long is empty",
    ):
        assert expected in messages
    assert (report.points.inserted, report.duplicates) == (3, 1)  # 1, 4bis and 10 (decimal commas); 1 again
    assert _street(factory, "54084", "rue joffre").name == "Rue Joffre"  # from "Rue ""Joffre"""
    assert "6 bad" in report.summary()


def test_changed_and_removed_rows(factory: Factory, tmp_path: Path) -> None:
    lines = MONT_BONVILLERS.read_text(encoding="utf-8").splitlines()
    import_file(factory, MONT_BONVILLERS)
    assert lines[1].startswith(";54084_0200_00001;") and ";5.833622;49.322203;" in lines[1]
    changed = tmp_path / MONT_BONVILLERS.name
    changed.write_text(
        "\n".join([lines[0], lines[1].replace(";5.833622;", ";5.833700;"), *lines[3:]]) + "\n", encoding="utf-8"
    )
    report = import_file(factory, changed, prune=True)
    assert (report.points.updated, report.points.deleted, report.points.inserted) == (1, 1, 0)
    assert (report.streets.updated, report.streets.unchanged) == (1, 20)  # Rue Joffre's centre moved
    assert _count(factory, AddressPoint) == 485


def test_unreadable_and_unknown_files_never_raise(factory: Factory, tmp_path: Path) -> None:
    missing = import_file(factory, tmp_path / "absent.csv")
    assert missing.format == "unknown" and missing.errors[0].line == 0 and not missing.ok
    other = tmp_path / "other.csv"
    other.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    unknown = import_file(factory, other)
    assert unknown.format == "unknown" and unknown.errors[0].line == 1
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert import_file(factory, empty).format == "unknown"
    assert _count(factory, AddressStreet) == 0


def test_windows_1252_file(factory: Factory, tmp_path: Path) -> None:
    header = PARIS.read_text(encoding="utf-8").splitlines()[0]
    row = (
        "75120_x;;72;;Rue des Pyrénées;75020;75120;Paris 20e Arrondissement;;;656404.19;6861697.39;2.405865;"
        "48.853840;signalement;;;PARIS;RUE DES PYRENEES;test;test;0;"
    )
    path = tmp_path / "cp1252.csv"
    path.write_bytes(f"{header}\r\n{row}\r\n".encode("cp1252"))
    report = import_file(factory, path)
    assert report.errors == [] and report.notes == ["file is not UTF-8: read as Windows-1252"]
    assert _street(factory, "75120", "rue des pyrenees").name == "Rue des Pyrénées"


def test_ndjson_bad_lines(factory: Factory, tmp_path: Path) -> None:
    numbers = {"1": {"lon": 166.441, "lat": -22.261}, "2bis": {"lon": 166.442, "lat": -22.262}}
    good = {
        "type": "street",
        "name": "Rue A",
        "citycode": ["98818"],
        "city": ["Nouméa"],
        "lon": 166.44,
        "lat": -22.26,
        "housenumbers": numbers,
    }
    lines = [
        json.dumps({"type": "municipality", "citycode": "98818", "postcode": ["98800"], "city": "Nouméa"}),
        "{not json",
        "[1, 2]",
        json.dumps({"type": "street", "name": "Rue B", "lon": 166.4, "lat": -22.2, "housenumbers": {}}),
        json.dumps({**good, "housenumbers": {**numbers, "x": {"lon": 1, "lat": 1}, "3": {"lat": -22.2}}}),
        "",
        json.dumps({**good, "name": "Place C", "housenumbers": {}}),
    ]
    path = tmp_path / "nc.ndjson"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = import_file(factory, path)
    assert report.format == "ndjson"
    assert [e.line for e in report.errors] == [2, 3, 4, 5, 5]
    assert (report.streets.inserted, report.points.inserted) == (2, 2)  # Rue A (1, 2bis) and Place C (centre)
    assert _street(factory, "98818", "place c").postcode == "98800"


def test_import_default_reference(factory: Factory) -> None:
    reports = import_default_reference(factory, [MONT_BONVILLERS, PERRECY], {"54084"})
    assert [r.points.inserted for r in reports] == [486, 0]
    assert reports[1].skipped == 145
