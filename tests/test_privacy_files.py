"""Files holding citizens' data are private to the service's account (issue 12, P5)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy import text

from intake.runtime.db import make_engine


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_sqlite_database_and_its_wal_are_created_0600(tmp_path: Path) -> None:
    previous = os.umask(0o022)  # the usual umask, under which SQLite alone creates 0644 files
    try:
        database = tmp_path / "var" / "guichet.db"
        engine = make_engine(f"sqlite:///{database}")
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
            assert mode(database) == 0o600
            assert mode(Path(f"{database}-wal")) == 0o600 and mode(Path(f"{database}-shm")) == 0o600
        engine.dispose()
    finally:
        os.umask(previous)


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    database = tmp_path / "guichet.db"
    database.touch()
    database.chmod(0o644)
    make_engine(f"sqlite:///{database}").dispose()
    assert mode(database) == 0o600
