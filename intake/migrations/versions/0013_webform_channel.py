"""the citizens' web form is a channel: "formulaire" joins the channels checked by the database

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 13:30:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The vocabulary as it stands at this revision (intake/vocab.py); a migration never imports the application.
BEFORE = ('email', 'sms', 'whatsapp', 'voice', 'open311', 'telephone', 'accueil', 'courrier')
AFTER = (*BEFORE, 'formulaire')
TABLES = ('raw_message', 'report', 'outbox')


def _in(values: tuple[str, ...]) -> str:
    return f"channel IN ({', '.join(repr(v) for v in values)})"


def _recreate(values: tuple[str, ...]) -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint('channel_known', type_='check')
            batch_op.create_check_constraint('channel_known', _in(values))


def upgrade() -> None:
    _recreate(AFTER)


def downgrade() -> None:
    # Rows of the web form would break the narrower check: they must be gone (or moved) first.
    bind = op.get_bind()
    for table in TABLES:
        count = bind.exec_driver_sql(f"SELECT COUNT(*) FROM {table} WHERE channel = 'formulaire'").scalar()
        if count:
            raise RuntimeError(f"{count} lignes de {table} viennent du formulaire web : impossible de revenir avant 0013")
    _recreate(BEFORE)
