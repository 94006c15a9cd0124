"""an index for the processing-time histogram of /metrics: (processed_at, received_at) of raw messages

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-07 13:10:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0012'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Covering: the histogram reads the two timestamps from the index, never the rows and their payloads.
    op.create_index('ix_raw_message_processed', 'raw_message', ['processed_at', 'received_at'])


def downgrade() -> None:
    op.drop_index('ix_raw_message_processed', table_name='raw_message')
