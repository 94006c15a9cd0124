"""Fixtures for the geocoding tests: an SQLite reference database and geocoders loaded from it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from intake.geocoding import models  # noqa: F401 (registers the address tables on Base.metadata)
from intake.geocoding.local import LocalGeocoder
from intake.geocoding.reference import import_file
from intake.models import Base
from intake.runtime.db import make_engine, make_sessionmaker

BAN_DATA = Path(__file__).resolve().parents[1] / "data" / "ban"
PARIS = BAN_DATA / "adresses-paris-extrait.csv"
MONT_BONVILLERS = BAN_DATA / "adresses-54084_Mont-Bonvillers_BAL1.3.csv"
PERRECY = BAN_DATA / "test-valid_71346_Perrecy-les-Forges_BAL1.3.csv"
NC = BAN_DATA / "adresses-nc-noumea-dumbea.ndjson"
BAD_ROWS = BAN_DATA / "bad-rows_BAL1.3.csv"
NOUMEA, DUMBEA = "98818", "98805"


def _factory(path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A session factory on an empty SQLite database holding the address tables."""
    yield from _factory(tmp_path / "reference.db")


@pytest.fixture(scope="session")
def reference_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    """One database per run with every fixture file imported (read-only for the tests using it)."""
    for factory in _factory(tmp_path_factory.mktemp("reference") / "reference.db"):
        for path in (PARIS, MONT_BONVILLERS, PERRECY, NC):
            assert not import_file(factory, path).errors
        yield factory


@pytest.fixture(scope="session")
def paris(reference_factory: sessionmaker[Session]) -> LocalGeocoder:
    """The geocoder of Paris (its 20 arrondissements), loaded from the database."""
    return LocalGeocoder.load(reference_factory, citycodes={f"751{n:02d}" for n in range(1, 21)})


@pytest.fixture(scope="session")
def caledonia(reference_factory: sessionmaker[Session]) -> LocalGeocoder:
    """The geocoder of Nouméa and Dumbéa, loaded from the database."""
    return LocalGeocoder.load(reference_factory, citycodes={NOUMEA, DUMBEA})
