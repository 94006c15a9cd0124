"""vocabularies checked by the database: statuses and channels of raw messages, reports and outbox rows

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 10:15:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The vocabularies as they stand at this revision (intake/vocab.py); a migration never imports the application.
CHANNELS = ('email', 'sms', 'whatsapp', 'voice', 'open311', 'telephone', 'accueil', 'courrier')
CHECKS = {
    'raw_message': {'status': ('pending', 'processing', 'processed', 'failed', 'discarded', 'held'),
                    'channel': CHANNELS},
    'report': {'status': ('nouveau', 'a_qualifier', 'transmis', 'en_cours', 'resolu', 'rejete'),
               'channel': CHANNELS},
    'outbox': {'status': ('pending', 'sending', 'sent', 'failed', 'suppressed'), 'channel': CHANNELS},
}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    bind = op.get_bind()
    unknown = []
    for table, columns in CHECKS.items():
        for column, values in columns.items():
            rows = bind.execute(sa.text(f"SELECT DISTINCT {column} FROM {table} WHERE NOT ({_in(column, values)})"))
            unknown += [f"{table}.{column} = {value!r}" for (value,) in rows]
    if unknown:
        raise RuntimeError("valeurs inconnues dans la base, à corriger avant la migration 0008 : " + ", ".join(unknown))
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, values in columns.items():
                batch_op.create_check_constraint(f'{column}_known', _in(column, values))


def downgrade() -> None:
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_constraint(f'{column}_known', type_='check')
