"""events_task_idx on (task_id, version): a task's events in order from an index range

Consumers fold a task's events after the ones they already hold ("version above
N, below M"); on `task_id` alone every earlier event of the task was read from
the table and filtered.

Revision ID: 0017
Revises: 0001
Create Date: 2026-11-30 19:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0001"
branch_labels = None
depends_on = None

_WHERE = sa.text("task_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index("events_task_idx", table_name="events", postgresql_where=_WHERE)
    op.create_index("events_task_idx", "events", ["task_id", "version"], postgresql_where=_WHERE)


def downgrade() -> None:
    op.drop_index("events_task_idx", table_name="events", postgresql_where=_WHERE)
    op.create_index("events_task_idx", "events", ["task_id"], postgresql_where=_WHERE)
