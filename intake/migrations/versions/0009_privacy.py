"""privacy: reports' unguessable public id; anonymised and purged marks; audit log by action (issue 12)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 12:30:00
"""
import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('anonymised_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('anonymised_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('raw_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purged_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_action_at', ['action', 'at'], unique=False)
    bind = op.get_bind()
    ids = [row[0] for row in bind.execute(sa.text("SELECT id FROM report WHERE public_id IS NULL"))]
    update = sa.text("UPDATE report SET public_id = :p WHERE id = :i")
    for start in range(0, len(ids), 1000):
        bind.execute(update, [{"p": secrets.token_urlsafe(12), "i": i} for i in ids[start:start + 1000]])
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.alter_column('public_id', existing_type=sa.String(length=32), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_report_public_id'), ['public_id'])


def downgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_action_at')
    with op.batch_alter_table('raw_message', schema=None) as batch_op:
        batch_op.drop_column('purged_at')
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_column('anonymised_at')
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_report_public_id'), type_='unique')
        batch_op.drop_column('anonymised_at')
        batch_op.drop_column('public_id')
