"""indexes that keep filing flat as the tables grow: the confirmation cap's lower(recipient), dedupe's candidates

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-07 15:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The daily cap of confirmations per recipient compares lower(recipient): an expression index.
    op.create_index('ix_outbox_lower_recipient_created', 'outbox', [sa.text('lower(recipient)'), 'created_at'])
    # Duplicate detection reads main reports of one category in a latitude band.
    op.create_index('ix_report_dedupe', 'report', ['category', 'lat'],
                    sqlite_where=sa.text('duplicate_of_id IS NULL'),
                    postgresql_where=sa.text('duplicate_of_id IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_report_dedupe', table_name='report')
    op.drop_index('ix_outbox_lower_recipient_created', table_name='outbox')
