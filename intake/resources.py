"""Heavy, long-lived resources of a process (engine, stores, pipeline, mailer), built once from config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from intake.config import Config
from intake.db import make_engine, make_sessionmaker
from intake.notify import Mailer, make_mailer
from intake.pipeline import Stage, build


@dataclass
class Resources:
    """Everything a job needs, loaded before the worker forks."""

    config: Config
    engine: Engine
    factory: sessionmaker[Session]
    file_store: Any
    mailer: Mailer
    stages: tuple[Stage, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    def dispose(self) -> None:
        """Close the database pool (after a fork, before exit)."""
        self.engine.dispose()


def build_resources(config: Config, *, mailer: Mailer | None = None) -> Resources:
    """Build the resources for `config`; stages are validated against the registry here."""
    from intake.media.storage import FileStore

    engine = make_engine(config.sqlalchemy_url)
    root = config.resolve_path(config.storage.root)
    root.mkdir(parents=True, exist_ok=True)
    return Resources(
        config=config,
        engine=engine,
        factory=make_sessionmaker(engine),
        file_store=FileStore(root),
        mailer=mailer or make_mailer(config),
        stages=build(list(config.pipeline)),
    )
