"""content in natural keys: a Message-ID or SID reused for other content is another raw message

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 09:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows already stored keep content_key NULL: store_raw computes it from their payload when their key is
    # seen again, so a migration need not parse every stored mail (and never imports the application's code).
    with op.batch_alter_table('raw_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_key', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('key_collision', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.drop_constraint('uq_raw_message_key', type_='unique')
        batch_op.create_unique_constraint('uq_raw_message_key', ['channel', 'source', 'external_key', 'content_key'])


def downgrade() -> None:
    # The old key holds one row per (channel, source, external_key): rows stored under a reused key get their id
    # appended to their key, so that going back loses none of them.
    raw = sa.table('raw_message', sa.column('id', sa.Integer), sa.column('external_key', sa.String),
                   sa.column('key_collision', sa.Boolean))
    rows = op.get_bind().execute(sa.select(raw.c.id, raw.c.external_key).where(raw.c.key_collision)).all()
    for raw_id, key in rows:
        suffix = f"#{raw_id}"
        op.execute(raw.update().where(raw.c.id == raw_id).values(external_key=key[:255 - len(suffix)] + suffix))
    with op.batch_alter_table('raw_message', schema=None) as batch_op:
        batch_op.drop_constraint('uq_raw_message_key', type_='unique')
        batch_op.create_unique_constraint('uq_raw_message_key', ['channel', 'source', 'external_key'])
        batch_op.drop_column('key_collision')
        batch_op.drop_column('content_key')
