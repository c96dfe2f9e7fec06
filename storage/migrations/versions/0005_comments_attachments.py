"""comments and attachments: comment revisions and reactions, attachment thumbnails,
per-organisation storage quotas

Revision ID: 0005
Revises: 0001
Create Date: 2026-12-10 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "comments", sa.Column("revision", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("attachments", sa.Column("thumbnail_key", sa.Text(), nullable=True))
    op.create_index(
        "attachments_org_live_idx",
        "attachments",
        ["org_id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "attachments_deleted_idx",
        "attachments",
        ["deleted_at"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NOT NULL"),
    )
    op.create_table(
        "comment_revisions",
        sa.Column("comment_id", sa.UUID(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("editor_id", sa.UUID(), nullable=False),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["comment_id"], ["comments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("comment_id", "revision"),
    )
    op.create_table(
        "comment_reactions",
        sa.Column("comment_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("emoji", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["comment_id"], ["comments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("comment_id", "user_id", "emoji"),
    )
    op.create_table(
        "org_quotas",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("storage_bytes", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("org_id"),
    )


def downgrade() -> None:
    op.drop_table("org_quotas")
    op.drop_table("comment_reactions")
    op.drop_table("comment_revisions")
    op.drop_index("attachments_deleted_idx", table_name="attachments")
    op.drop_index("attachments_org_live_idx", table_name="attachments")
    op.drop_column("attachments", "thumbnail_key")
    op.drop_column("comments", "revision")
