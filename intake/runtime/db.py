"""Database engine and sessions: SQLite (embedded default) or PostgreSQL, migrated with Alembic."""

from __future__ import annotations

import os
import stat
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from intake.runtime.sqlite_turns import TurnTakingConnection, install

# Any failure of the database (unreachable, locked, refused statement): what the web's doors catch to park a
# request or answer 503, without importing SQLAlchemy themselves.
DatabaseError = SQLAlchemyError
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# Every engine this process made, so that a test run or a shutdown can close all their connections.
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()
# Execution option of read_only() sessions: SQLite begins them DEFERRED instead of IMMEDIATE.
READ_ONLY = "guichet_read_only"
# How long a SQLite writer waits for its turn, then for SQLite's lock (seconds).
SQLITE_BUSY_SECONDS = 30


def dispose_all() -> None:
    """Close the pooled connections of every engine created in this process."""
    for engine in list(_ENGINES):
        engine.dispose()


def forget_inherited_connections() -> None:
    """In a forked child: drop the pooled connections inherited from the parent without closing them (they are
    the parent's), so that the child opens its own (SQLAlchemy's advice for os.fork)."""
    for engine in list(_ENGINES):
        engine.dispose(close=False)


def _private_database_file(path: Path) -> None:
    """Create the SQLite file 0600 before SQLite does it 0644 (its folder, often var/, is left to the town:
    the demo mailbox under it must stay reachable by Dovecot).

    SQLite gives its -wal and -shm files the database file's mode, so they follow. A file that exists is
    tightened to 0600 when this account owns it and others could read it (citizens' names, emails, phones).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        info = path.stat()
        if stat.S_IMODE(info.st_mode) & 0o077 and info.st_uid == os.getuid():
            os.chmod(path, 0o600)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys, a busy timeout and turns between writers
    (intake/runtime/sqlite_turns.py) so several processes share it."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        on_disk = bool(database and database != ":memory:" and not database.startswith("file:"))
        if on_disk:
            _private_database_file(Path(str(database)))
        connect_args = {"timeout": SQLITE_BUSY_SECONDS, "factory": TurnTakingConnection}
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        _ENGINES.add(engine)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's pysqlite driver not open implicit transactions behind our back,
            # and take the write lock at BEGIN so concurrent writers queue instead of deadlocking.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
            cur.close()
            if on_disk:
                install(dbapi_conn, Path(str(database)), timeout=SQLITE_BUSY_SECONDS)

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # A read-only session (read_only()) reads its WAL snapshot without queueing for the write lock.
            if conn.get_execution_options().get(READ_ONLY):
                conn.exec_driver_sql("BEGIN")
                return
            # A writer first waits for its turn (woken within a millisecond of the previous writer's commit, and
            # before that writer can begin again), then takes SQLite's lock at once.
            dbapi_conn = conn.connection.dbapi_connection
            if isinstance(dbapi_conn, TurnTakingConnection):
                dbapi_conn.take_turn()
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                if isinstance(dbapi_conn, TurnTakingConnection):
                    dbapi_conn.give_turn()
                raise

        return engine
    engine = create_engine(url, pool_pre_ping=True, **kwargs)
    _ENGINES.add(engine)
    return engine


@contextmanager
def read_only(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that only reads: on SQLite it does not wait for the write lock (WAL readers never block, and a
    sweep or a snapshot read no longer queues behind a stream of filing commits). Never write in it."""
    with factory() as session:
        session.connection(execution_options={READ_ONLY: True})
        yield session


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with factory() as session, session.begin():
        yield session


def alembic_config(url: str) -> Any:
    """An Alembic configuration pointing at our migrations and `url`, without an alembic.ini."""
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """Create or upgrade the database schema to the latest migration."""
    from alembic import command

    make_engine(url).dispose()  # creates the SQLite folder if needed
    command.upgrade(alembic_config(url), "head")
