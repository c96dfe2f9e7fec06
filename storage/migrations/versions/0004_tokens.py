"""tokens: personal API tokens, refresh-token indexes, users.tokens_valid_after

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-29 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Access tokens issued before this instant are refused (password change).
    op.add_column("users", sa.Column("tokens_valid_after", sa.DateTime(timezone=True)))
    op.create_index("refresh_tokens_family_idx", "refresh_tokens", ["family_id"])
    op.create_index("refresh_tokens_user_idx", "refresh_tokens", ["user_id"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.String(length=16)), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("api_tokens_user_idx", "api_tokens", ["user_id", "created_at"])


def downgrade() -> None:
    op.drop_index("api_tokens_user_idx", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_index("refresh_tokens_user_idx", table_name="refresh_tokens")
    op.drop_index("refresh_tokens_family_idx", table_name="refresh_tokens")
    op.drop_column("users", "tokens_valid_after")
