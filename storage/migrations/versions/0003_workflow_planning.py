"""workflow and planning: project workflow and labels, task rank/hierarchy/planning
fields, sprints

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-03 10:12:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL workflow: the project predates workflows; the application builds one from
    # its settings' status list and stores it with the project's next change.
    op.add_column(
        "projects", sa.Column("workflow", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )
    op.add_column(
        "projects",
        sa.Column(
            "labels",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    # Columns added to the partitioned parent propagate to every partition.
    op.add_column(
        "tasks",
        sa.Column("rank", sa.String(length=64, collation="C"), server_default="", nullable=False),
    )
    op.add_column("tasks", sa.Column("parent_id", sa.UUID(), nullable=True))
    op.add_column("tasks", sa.Column("estimate", sa.Double(), nullable=True))
    op.add_column("tasks", sa.Column("due_date", sa.Date(), nullable=True))
    op.add_column("tasks", sa.Column("start_date", sa.Date(), nullable=True))
    op.add_column(
        "tasks",
        sa.Column(
            "labels",
            postgresql.ARRAY(sa.String(length=64)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
    )
    op.add_column(
        "tasks",
        sa.Column(
            "watchers", postgresql.ARRAY(sa.UUID()), server_default=sa.text("'{}'"), nullable=False
        ),
    )
    op.add_column("tasks", sa.Column("sprint_id", sa.UUID(), nullable=True))
    op.create_index(
        "tasks_sprint_idx",
        "tasks",
        ["sprint_id"],
        unique=False,
        postgresql_where=sa.text("sprint_id IS NOT NULL"),
    )
    # Existing cards get ranks in number order: the number in fixed-width hex (hex
    # digits are rank digits) and a final "1", as ranks never end in "0".
    op.execute("UPDATE tasks SET rank = lpad(to_hex(number), 12, '0') || '1' WHERE rank = ''")
    op.create_table(
        "sprints",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("goal", sa.Text(), server_default="", nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('planned', 'active', 'completed')", name="sprints_state_check"
        ),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("sprints_project_idx", "sprints", ["project_id"], unique=False)


def downgrade() -> None:
    op.drop_index("sprints_project_idx", table_name="sprints")
    op.drop_table("sprints")
    op.drop_index(
        "tasks_sprint_idx", table_name="tasks", postgresql_where=sa.text("sprint_id IS NOT NULL")
    )
    for column in (
        "sprint_id",
        "watchers",
        "labels",
        "start_date",
        "due_date",
        "estimate",
        "parent_id",
        "rank",
    ):
        op.drop_column("tasks", column)
    op.drop_column("projects", "labels")
    op.drop_column("projects", "workflow")
