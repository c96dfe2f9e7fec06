"""events: the id of the request that caused each one; audit rows take ids as
long as the API accepts (128)

Revision ID: 0015
Revises: 0001
Create Date: 2026-11-29 19:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: adding it rewrites no row of a large table.
    op.add_column("events", sa.Column("request_id", sa.String(128), nullable=True))
    op.alter_column("audit_log", "request_id", type_=sa.String(128))


def downgrade() -> None:
    op.alter_column("audit_log", "request_id", type_=sa.String(64))
    op.drop_column("events", "request_id")
