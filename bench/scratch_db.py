"""Databases the benchmarks create for themselves: a bench drops only a database that a bench created."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

MARK = "guichet bench scratch database"


def recreate(url: str) -> None:
    """Empty the benchmark's database: delete the SQLite file, or drop and create the PostgreSQL database.

    A PostgreSQL database is dropped only when it carries the mark a bench left on it when creating it;
    any other database of that name belongs to someone else and the bench stops with a message.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            Path(parsed.database).unlink(missing_ok=True)
        return
    import psycopg

    name = parsed.database
    with psycopg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if row is not None:
            if row[0] != MARK:
                raise SystemExit(
                    f"la base {name} existe et n'a pas été créée par un banc d'essai : "
                    "choisissez une autre --database-url"
                )
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
        conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{MARK}'")
