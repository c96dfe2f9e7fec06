"""reports: project time zones and the analytics tables the reports consumer keeps

Revision ID: 0007
Revises: 0001
Create Date: 2026-11-29 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column(
        "projects",
        sa.Column("time_zone", sa.String(length=64), server_default="UTC", nullable=False),
    )
    op.create_table(
        "report_projects",
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("time_zone", sa.String(length=64), server_default="UTC", nullable=False),
        sa.Column(
            "categories",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("project_id"),
    )
    op.create_table(
        "report_task_intervals",
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("task_id", sa.UUID(), nullable=False),
        sa.Column("start_version", sa.BigInteger(), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_version", sa.BigInteger(), nullable=True),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("estimate", sa.Numeric(), nullable=True),
        sa.Column("sprint_id", sa.UUID(), nullable=True),
        sa.PrimaryKeyConstraint("project_id", "task_id", "start_version"),
    )
    op.create_index(
        "report_task_intervals_sprint_idx",
        "report_task_intervals",
        ["project_id", "sprint_id"],
        unique=False,
        postgresql_where=sa.text("sprint_id IS NOT NULL"),
    )
    op.create_table(
        "report_status_days",
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("count_delta", sa.BigInteger(), nullable=False),
        sa.Column("estimate_delta", sa.Numeric(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "day", "status", "category"),
    )
    op.create_table(
        "report_sprints",
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("sprint_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("committed_count", sa.Integer(), nullable=True),
        sa.Column("committed_estimate", sa.Numeric(), nullable=True),
        sa.Column("completed_count", sa.Integer(), nullable=True),
        sa.Column("completed_estimate", sa.Numeric(), nullable=True),
        sa.Column("remaining_count", sa.Integer(), nullable=True),
        sa.Column("remaining_estimate", sa.Numeric(), nullable=True),
        sa.PrimaryKeyConstraint("project_id", "sprint_id"),
    )
    op.create_table(
        "report_sprint_scope",
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("sprint_id", sa.UUID(), nullable=False),
        sa.Column("task_id", sa.UUID(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("count_delta", sa.SmallInteger(), nullable=False),
        sa.Column("estimate_delta", sa.Numeric(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "version"),
    )
    op.create_index(
        "report_sprint_scope_sprint_idx",
        "report_sprint_scope",
        ["project_id", "sprint_id"],
        unique=False,
    )
    op.create_table(
        "report_task_flow",
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("task_id", sa.UUID(), nullable=False),
        sa.Column("key", sa.String(length=24), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("project_id", "task_id"),
    )
    op.create_index(
        "report_task_flow_done_idx",
        "report_task_flow",
        ["project_id", "done_at"],
        unique=False,
        postgresql_where=sa.text("done_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("report_task_flow_done_idx", table_name="report_task_flow")
    op.drop_table("report_task_flow")
    op.drop_index("report_sprint_scope_sprint_idx", table_name="report_sprint_scope")
    op.drop_table("report_sprint_scope")
    op.drop_table("report_sprints")
    op.drop_table("report_status_days")
    op.drop_index("report_task_intervals_sprint_idx", table_name="report_task_intervals")
    op.drop_table("report_task_intervals")
    op.drop_table("report_projects")
    op.drop_column("projects", "time_zone")
