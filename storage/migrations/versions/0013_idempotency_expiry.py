"""idempotency keys: an index to prune them by age

Revision ID: 0013
Revises: 0001
Create Date: 2026-11-29 14:40:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("idempotency_keys_created_idx", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("idempotency_keys_created_idx", table_name="idempotency_keys")
