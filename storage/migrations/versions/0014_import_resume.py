"""imports: the plan kept with a running job, and a heartbeat, so a job whose
process died is resumed elsewhere

Revision ID: 0014
Revises: 0010
Create Date: 2026-11-29 15:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("imports", sa.Column("plan", postgresql.JSONB(), nullable=True))
    op.add_column(
        "imports",
        sa.Column(
            "heartbeat_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )
    op.create_index(
        "imports_running_idx",
        "imports",
        ["heartbeat_at"],
        postgresql_where=sa.text("status = 'running'"),
    )


def downgrade() -> None:
    op.drop_index("imports_running_idx", table_name="imports")
    op.drop_column("imports", "heartbeat_at")
    op.drop_column("imports", "plan")
