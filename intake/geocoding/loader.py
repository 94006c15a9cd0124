"""The embedded geocoder of a town, loaded once per process: from the database, else from the reference files."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import exists, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from intake.geocoding.local import LocalGeocoder
from intake.geocoding.models import AddressStreet

log = logging.getLogger(__name__)


def load_local_geocoder(factory: sessionmaker[Session] | None, *, files: Iterable[str | Path] = (),
                        citycodes: set[str] | None = None) -> LocalGeocoder:
    """The reference imported in the database (`guichet init`) when there is one, else the files read directly.

    Never fails for a missing reference: a geocoder without streets answers None to everything.
    """
    if factory is not None:
        try:
            with factory() as session:
                query = select(AddressStreet.id)
                if citycodes:
                    query = query.where(AddressStreet.citycode.in_(sorted(citycodes)))
                imported = bool(session.scalar(select(exists(query))))
            if imported:
                return LocalGeocoder.load(factory, citycodes=citycodes or None)
        except SQLAlchemyError as exc:  # tables not migrated yet: the files still work
            log.warning("address reference not readable from the database: %s", exc)
    paths = [Path(p) for p in files]
    present = [p for p in paths if p.is_file()]
    for missing in sorted(set(paths) - set(present)):
        log.warning("address reference file not found: %s", missing)
    return LocalGeocoder.from_files(present, citycodes=citycodes or None)
