"""runtime.db.read_only: on SQLite a session that only reads does not queue for the write lock (WAL readers see
the last commit while a writer holds the lock), where every other session takes the lock at BEGIN."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from intake.runtime.db import make_engine, make_sessionmaker, read_only


def test_a_read_only_session_reads_while_a_writer_holds_the_lock(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'ro.db'}")
    factory = make_sessionmaker(engine)
    try:
        with factory() as session, session.begin():
            session.execute(text("CREATE TABLE t (n INTEGER)"))
            session.execute(text("INSERT INTO t VALUES (1)"))
        with factory() as writer, writer.begin():
            writer.execute(text("INSERT INTO t VALUES (2)"))  # not committed: the write lock is held
            started = time.monotonic()
            with read_only(factory) as session:
                assert session.execute(text("SELECT count(*) FROM t")).scalar_one() == 1  # the last commit
            assert time.monotonic() - started < 5  # the busy timeout is 30 s
            other = sqlite3.connect(tmp_path / "ro.db", timeout=0, isolation_level=None)
            try:  # what an ordinary session's BEGIN IMMEDIATE meets meanwhile: the lock is held
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
            finally:
                other.close()
        with read_only(factory) as session:
            assert session.execute(text("SELECT count(*) FROM t")).scalar_one() == 2
    finally:
        engine.dispose()
