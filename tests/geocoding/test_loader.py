"""Loading the town's geocoder: database first, reference files otherwise, empty rather than failing."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from intake.geocoding.loader import load_local_geocoder
from intake.geocoding.reference import import_file
from intake.runtime.db import make_engine, make_sessionmaker
from tests.geocoding.conftest import MONT_BONVILLERS, PERRECY


def test_from_the_database_when_imported(factory: sessionmaker[Session]) -> None:
    import_file(factory, MONT_BONVILLERS)
    geocoder = load_local_geocoder(factory, files=[PERRECY], citycodes={"54084"})
    assert {s.citycode for s in geocoder.streets()} == {"54084"} and len(geocoder.streets()) == 21
    assert (r := geocoder.geocode("1 rue Joffre")) is not None and r.score == 1.0


def test_from_the_files_when_the_database_has_none(factory: sessionmaker[Session], tmp_path: Path) -> None:
    geocoder = load_local_geocoder(factory, files=[PERRECY, tmp_path / "absent.csv"], citycodes={"71346"})
    assert len(geocoder.streets()) == 88
    unmigrated = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        assert len(load_local_geocoder(make_sessionmaker(unmigrated), files=[PERRECY]).streets()) == 88
    finally:
        unmigrated.dispose()


def test_no_reference_at_all_gives_an_empty_geocoder() -> None:
    geocoder = load_local_geocoder(None, files=[])
    assert geocoder.streets() == []
    assert geocoder.geocode("72 rue des Pyrénées") is None
    assert geocoder.reverse(48.85, 2.35) is None
    assert not geocoder.inside_commune(48.85, 2.35)


def test_reference_files_are_read_once_until_they_change(tmp_path: Path) -> None:
    import os
    import shutil

    reference = tmp_path / "reference.csv"
    shutil.copyfile(PERRECY, reference)
    first = load_local_geocoder(None, files=[reference], citycodes={"71346"})
    assert load_local_geocoder(None, files=[str(reference)], citycodes={"71346"}) is first
    assert load_local_geocoder(None, files=[reference], citycodes={"54084"}) is not first  # another town
    lines = PERRECY.read_text(encoding="utf-8").splitlines(keepends=True)
    reference.write_text("".join(lines[:40]), encoding="utf-8")  # the header and fewer addresses
    stat = reference.stat()
    os.utime(reference, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # even on a coarse clock
    second = load_local_geocoder(None, files=[reference], citycodes={"71346"})
    assert second is not first and 0 < len(second.streets()) < len(first.streets()) == 88


def test_a_reference_imported_later_is_read_from_the_database(factory: sessionmaker[Session]) -> None:
    before = load_local_geocoder(factory, files=[MONT_BONVILLERS], citycodes={"54084"})
    assert sorted(s.id for s in before.streets()) == list(range(1, 22))  # numbered as read from the file
    import_file(factory, PERRECY)  # its 88 streets take the first row ids
    import_file(factory, MONT_BONVILLERS)
    after = load_local_geocoder(factory, files=[MONT_BONVILLERS], citycodes={"54084"})
    assert len(after.streets()) == 21 and min(s.id for s in after.streets()) > 88  # the database's rows
    assert load_local_geocoder(factory, files=[MONT_BONVILLERS], citycodes={"54084"}) is not after  # read again
