"""Alembic environment: runs migrations online against the configured URL."""

from alembic import context

import intake.geocoding.models  # noqa: F401  (address reference tables share the metadata)
from intake.models import Base
from intake.runtime.db import make_engine

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Run migrations in a transaction on a fresh engine."""
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
