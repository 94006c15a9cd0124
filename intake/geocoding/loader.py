"""The embedded geocoder of a town, loaded once per process: from the database, else from the reference files."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import exists, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from intake.geocoding.local import LocalGeocoder
from intake.geocoding.models import AddressStreet

log = logging.getLogger(__name__)


def load_local_geocoder(
    factory: sessionmaker[Session] | None, *, files: Iterable[str | Path] = (), citycodes: set[str] | None = None
) -> LocalGeocoder:
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
    return _from_files(present, citycodes or None)


# Geocoders read from reference files, by (resolved files with their modification time and size, citycodes): a
# process reads unchanged files once; a replaced or edited file is read again. A geocoder is not modified by its
# users (its lazy indexes are built the same way by whichever caller comes first).
_FROM_FILES: dict[tuple[tuple[tuple[str, int, int], ...], frozenset[str] | None], LocalGeocoder] = {}
_FROM_FILES_LOCK = threading.Lock()


def _from_files(paths: list[Path], citycodes: set[str] | None) -> LocalGeocoder:
    files = []
    for path in paths:
        stat = path.stat()
        files.append((str(path.resolve()), stat.st_mtime_ns, stat.st_size))
    codes = frozenset(citycodes) if citycodes is not None else None
    key = (tuple(files), codes)
    with _FROM_FILES_LOCK:
        geocoder = _FROM_FILES.get(key)
        if geocoder is None:
            names = [f[0] for f in files]
            for stale in [k for k in _FROM_FILES if k[1] == codes and [f[0] for f in k[0]] == names]:
                del _FROM_FILES[stale]  # an older version of the same files: one geocoder per reference
            geocoder = _FROM_FILES[key] = LocalGeocoder.from_files(paths, citycodes=citycodes)
        return geocoder
