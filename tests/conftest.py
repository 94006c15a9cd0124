"""Shared fixtures: a real database (SQLite, or PostgreSQL via GUICHET_TEST_DATABASE_URL), real Redis, real SMTP."""

from __future__ import annotations

import copy
import functools
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.orm import Session

from intake.config import Config, parse_config
from intake.runtime.db import migrate
from tests.support import schedule
from tests.support.chromium import chromium  # noqa: F401  (fixture: one headless Chromium per test process)
from tests.support.procs import processes  # noqa: F401  (fixture: processes stopped at the end of a test)

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
# pytest-xdist runs tests in workers gw0, gw1…: each gets a Redis database index and a PostgreSQL database of
# its own, so that flushing or dropping in one never touches another's (index 10 is the benchmarks', 14 and 15 addok's).
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_WORKER_INDEX = int(XDIST_WORKER[2:]) if XDIST_WORKER.startswith("gw") else 0
_REDIS_DBS = (9, 11, 12, 13)


def _test_redis_url() -> str:
    """This process's Redis: GUICHET_TEST_REDIS_URL (one URL per xdist worker, comma-separated), else the default."""
    override = [url.strip() for url in os.environ.get("GUICHET_TEST_REDIS_URL", "").split(",") if url.strip()]
    urls = override or [f"redis://127.0.0.1:6379/{db}" for db in _REDIS_DBS]
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) if XDIST_WORKER else 1
    if len(urls) < workers:  # two workers flushing the same index would wipe each other's queues
        raise pytest.UsageError(
            f"{len(urls)} test Redis URL(s) for {workers} pytest-xdist workers: "
            "set GUICHET_TEST_REDIS_URL to one URL per worker, separated by commas"
        )
    return urls[_WORKER_INDEX]


TEST_REDIS_URL = _test_redis_url()


def postgres_test_url() -> str | None:
    """The PostgreSQL database of this test process (GUICHET_TEST_DATABASE_URL, suffixed per xdist worker)."""
    url = os.environ.get("GUICHET_TEST_DATABASE_URL")
    if not url:
        return None
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = f"{parsed.database}_{XDIST_WORKER}" if XDIST_WORKER else str(parsed.database)
    _ensure_postgres_database(parsed.set(database="postgres"), name)
    return parsed.set(database=name).render_as_string(hide_password=False)


_ENSURED: set[str] = set()


def _ensure_postgres_database(admin_url: Any, name: str) -> None:
    """Create the test database when missing. Its commits do not wait for the WAL to reach the disk
    (synchronous_commit off: what a crash of the server would lose, no test needs; visibility is unchanged)."""
    from sqlalchemy import create_engine, text

    if name in _ENSURED:
        return
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    engine.dispose()
    _ENSURED.add(name)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests using the database get the `db` marker so the PostgreSQL pass can select them; under pytest-xdist,
    the work units are checked and put longest first (tests/support/schedule.py)."""
    for item in items:
        if "db_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)
    if XDIST_WORKER:
        schedule.check_groups(items)
        items[:] = schedule.longest_first(items, schedule.load_durations())


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup` shares the tests by tests/support/schedule.py's groups (pytest-xdist's own groups are
    lost with pytest 9.2); other modes are pytest-xdist's."""
    if config.getvalue("dist") == "loadgroup":
        return schedule.make_scheduler(config, log)
    return None


def _fresh_postgres(url: str) -> str:
    """Empty the public schema of `url` (the next `migrate` starts from scratch)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


def _children_first(conn: Any) -> list[str]:
    """The tables holding rows (never alembic_version), each after the tables whose foreign keys point to it, so
    that deleting in this order never breaks a constraint (a table pointing to itself is deleted in one go)."""
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            " ORDER BY tablename"
        )
    ]
    parents: dict[str, set[str]] = {name: set() for name in tables}
    for child, parent in conn.execute(
        "SELECT c.relname, p.relname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid"
        " JOIN pg_class p ON p.oid = k.confrelid WHERE k.contype = 'f'"
        " AND k.connamespace = 'public'::regnamespace AND c.oid <> p.oid"
    ):
        parents.setdefault(child, set()).add(parent)
    order: list[str] = []
    remaining = {name: {p for p in found if p in parents} for name, found in parents.items() if name in tables}
    while remaining:  # repeatedly take the tables no remaining table points to
        pointed = {p for found in remaining.values() for p in found}
        leaves = sorted(name for name in remaining if name not in pointed)
        if not leaves:
            raise RuntimeError(f"foreign keys in a cycle between {sorted(remaining)}: the test reset cannot order them")
        order.extend(leaves)
        for name in leaves:
            del remaining[name]
    return order


class DatabaseTemplate:
    """The schema is migrated once per test process; each test gets a fresh, empty copy of it.

    SQLite: a migrated template file, copied into the test's folder. PostgreSQL (one database per xdist worker):
    migrated once, then the rows of every table (never alembic_version) deleted and the sequences restarted
    before each test.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.postgres = postgres_test_url()
        self._sqlite: Path | None = None
        self._pg_tables: list[str] = []
        self._pg_version: str | None = None

    def fresh(self, folder: Path) -> str:
        """The URL of a migrated, empty database for one test (a file in `folder` with SQLite)."""
        if self.postgres:
            return self._fresh_postgres()
        if self._sqlite is None:
            self._sqlite = self._migrated_sqlite(self.folder / "template.db")
        target = folder / "guichet.db"
        shutil.copyfile(self._sqlite, target)
        return f"sqlite:///{target}"

    def from_scratch(self, folder: Path) -> str:
        """The URL of a database migrated from nothing, for the tests of the migrations themselves."""
        if self.postgres:
            self._pg_version = None  # the next fresh() checks the schema again
            url = _fresh_postgres(self.postgres)
            migrate(url)
            return url
        return f"sqlite:///{self._migrated_sqlite(folder / 'guichet.db')}"

    @staticmethod
    def _migrated_sqlite(path: Path) -> Path:
        import sqlite3

        from intake.runtime.db import dispose_all

        migrate(f"sqlite:///{path}")
        dispose_all()
        with closing(sqlite3.connect(path)) as conn:  # everything into the main file: it is copied alone
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return path

    def _fresh_postgres(self) -> str:
        import psycopg
        from sqlalchemy.engine import make_url

        assert self.postgres is not None
        url = make_url(self.postgres)
        with psycopg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            dbname=url.database,
            autocommit=True,
        ) as conn:
            version = self._alembic_version(conn)
            if self._pg_version is None or version != self._pg_version:  # first use, or changed behind our back
                _fresh_postgres(self.postgres)
                migrate(self.postgres)
                self._pg_version = self._alembic_version(conn)
                self._pg_tables = _children_first(conn)
            # A connection left open in a transaction by the previous test must not make this wait forever.
            conn.execute("SET lock_timeout = '20s'")
            # DELETE, children first, in one transaction: a few milliseconds on the handful of rows a test leaves,
            # where TRUNCATE costs new files for each table and its indexes (~0.4 s for all on a busy machine).
            try:
                with conn.transaction():
                    for name in self._pg_tables:
                        conn.execute(f'DELETE FROM public."{name}"')
            except psycopg.errors.LockNotAvailable as exc:
                holders = conn.execute(
                    "SELECT pid, state, left(query, 200) FROM pg_stat_activity WHERE datname ="
                    " current_database() AND pid <> pg_backend_pid()"
                ).fetchall()
                raise RuntimeError(f"{url.database}: a connection left open blocks the reset: {holders}") from exc
            # Every sequence starts again (a rolled-back insert moves one too).
            conn.execute(
                "SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, start_value, false)"
                " FROM pg_sequences WHERE schemaname = 'public'"
            )
        return self.postgres

    @staticmethod
    def _alembic_version(conn: Any) -> str | None:
        if conn.execute("SELECT to_regclass('public.alembic_version')").fetchone()[0] is None:
            return None
        row = conn.execute("SELECT string_agg(version_num, ',') FROM alembic_version").fetchone()
        return str(row[0]) if row and row[0] else None


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> DatabaseTemplate:
    """This test process's migrated schema (see DatabaseTemplate)."""
    return DatabaseTemplate(tmp_path_factory.mktemp("template"))


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path, database_template: DatabaseTemplate) -> Iterator[str]:
    """A migrated, empty database: SQLite in tmp_path, or the PostgreSQL named by GUICHET_TEST_DATABASE_URL.

    A copy of the schema migrated once per process; tests marked `migrations` get one migrated from scratch.
    """
    from intake.runtime.db import dispose_all

    if request.node.get_closest_marker("migrations"):
        url = database_template.from_scratch(tmp_path)
    else:
        url = database_template.fresh(tmp_path)
    yield url
    dispose_all()


def base_config_data() -> dict[str, Any]:
    """The shipped config.yaml as a dict, the base every test config starts from (a copy of its own)."""
    return copy.deepcopy(_shipped_config())


@functools.cache
def _shipped_config() -> dict[str, Any]:
    # Parsed once per test process: PyYAML takes ~0.1 s (more on a busy machine) to read config.yaml, and most
    # tests build a config. The file does not change while the tests run.
    data: dict[str, Any] = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    return data


@pytest.fixture
def make_config(tmp_path: Path, db_url: str) -> Callable[..., Config]:
    """Build a validated Config on the test database, with storage in tmp_path and console mail."""

    def build(**overrides: Any) -> Config:
        data = base_config_data()
        data["database_url"] = db_url
        data["redis_url"] = overrides.pop("redis_url", None)
        data["storage"] = {**data["storage"], "root": str(tmp_path / "storage")}
        data["mailboxes"] = overrides.pop("mailboxes", [])
        data["smtp"] = {**data["smtp"], "backend": "console"}
        data["addresses"] = {**data["addresses"], "reference": [str(ROOT / p) for p in data["addresses"]["reference"]]}
        # The shipped demo zones wherever the test config lives; reports are routed but not transmitted to the
        # services unless a test asks for it (routing={"auto_transmit": True}): no referent mail in other tests.
        data["routing"] = {**data.get("routing", {}), "auto_transmit": False}
        if data["routing"].get("zones_file"):
            data["routing"]["zones_file"] = str(ROOT / data["routing"]["zones_file"])
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return parse_config(data, base_dir=str(tmp_path))

    return build


class CaughtMail:
    """Messages received by the test SMTP server."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
        import email
        from email.policy import default

        msg = email.message_from_bytes(envelope.content, policy=default)
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "message": msg})
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[str, int, CaughtMail]]:
    """A real SMTP server (aiosmtpd) on loopback catching outgoing mail."""
    from aiosmtpd.controller import Controller

    handler = CaughtMail()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield "127.0.0.1", port, handler
    finally:
        controller.stop()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The real Redis of the machine, on a database index of its own, emptied around each test."""
    from redis import Redis

    conn = Redis.from_url(TEST_REDIS_URL)
    try:
        conn.ping()
    except Exception as exc:  # pragma: no cover - the machine and CI run Redis
        pytest.fail(f"Redis is required at {TEST_REDIS_URL}: {exc}")
    conn.flushdb()
    yield TEST_REDIS_URL
    conn.flushdb()
    conn.close()


def free_port() -> int:
    """A TCP port free on loopback right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unique_id() -> str:
    """A unique Message-ID for test emails."""
    return f"{uuid.uuid4().hex}@test.example"


def write_config(cfg: Config, path: Path) -> Path:
    """Write a Config back to YAML so that a subprocess (worker, CLI) can load it."""
    data = cfg.model_dump(mode="json", exclude_none=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def cfg(make_config: Callable[..., Config]) -> Config:
    """The shipped configuration on the test database (modules may override it)."""
    return make_config()


@pytest.fixture
def session(cfg: Config) -> Iterator[Session]:
    """A session on the test database of `cfg`."""
    from intake.runtime.db import make_engine, make_sessionmaker

    factory = make_sessionmaker(make_engine(cfg.sqlalchemy_url))
    with factory() as s:
        yield s


def database_at(revision: str, tmp_path: Path) -> str:
    """A database migrated only up to `revision` (SQLite in tmp_path, or the PostgreSQL of the test run)."""
    from alembic import command

    from intake.runtime.db import alembic_config, make_engine

    pg = postgres_test_url()
    url = _fresh_postgres(pg) if pg else f"sqlite:///{tmp_path / 'old.db'}"
    make_engine(url).dispose()
    command.upgrade(alembic_config(url), revision)
    return url
