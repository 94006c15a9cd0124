"""Shared fixtures: a real database (SQLite, or PostgreSQL via GUICHET_TEST_DATABASE_URL), real Redis, real SMTP."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.orm import Session

from intake.config import Config, parse_config
from intake.runtime.db import migrate
from tests.support.procs import processes  # noqa: F401  (fixture: processes stopped at the end of a test)

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
# pytest-xdist runs tests in workers gw0, gw1…: each gets a Redis database index and a PostgreSQL database of
# its own, so that flushing or dropping in one never touches another's (index 10 is the benchmarks', 14 addok's).
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_WORKER_INDEX = int(XDIST_WORKER[2:]) if XDIST_WORKER.startswith("gw") else 0
_REDIS_DBS = (9, 11, 12, 13)
TEST_REDIS_URL = os.environ.get("GUICHET_TEST_REDIS_URL",
                                f"redis://127.0.0.1:6379/{_REDIS_DBS[_WORKER_INDEX % len(_REDIS_DBS)]}")


def postgres_test_url() -> str | None:
    """The PostgreSQL database of this test process (GUICHET_TEST_DATABASE_URL, suffixed per xdist worker)."""
    url = os.environ.get("GUICHET_TEST_DATABASE_URL")
    if not url or not XDIST_WORKER:
        return url
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = f"{parsed.database}_{XDIST_WORKER}"
    _ensure_postgres_database(parsed.set(database="postgres"), name)
    return parsed.set(database=name).render_as_string(hide_password=False)


def _ensure_postgres_database(admin_url: Any, name: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests using the database get the `db` marker so the PostgreSQL pass can select them."""
    for item in items:
        if "db_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


def _fresh_postgres(url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: SQLite in tmp_path, or the PostgreSQL named by GUICHET_TEST_DATABASE_URL."""
    from intake.runtime.db import dispose_all

    pg = postgres_test_url()
    url = _fresh_postgres(pg) if pg else f"sqlite:///{tmp_path / 'guichet.db'}"
    migrate(url)
    yield url
    dispose_all()


def base_config_data() -> dict[str, Any]:
    """The shipped config.yaml as a dict, the base every test config starts from."""
    return yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))


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
        data["addresses"] = {**data["addresses"],
                             "reference": [str(ROOT / p) for p in data["addresses"]["reference"]]}
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
