"""search: saved views, and the text search configuration task filters use

Revision ID: 0006
Revises: 0001
Create Date: 2026-11-29 12:00:00.000000

`taskhive_english` stems with Snowball English like the search index's
`en_stem` analyzer and, unlike PostgreSQL's `english`, drops no stop words, so
free text in a task filter means the same in SQL as in the index.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0001"
branch_labels = None
depends_on = None

_WORD_TYPES = (
    "asciiword, word, numword, asciihword, hword, numhword, "
    "hword_asciipart, hword_part, hword_numpart"
)


def upgrade() -> None:
    op.execute(
        "CREATE TEXT SEARCH DICTIONARY taskhive_stem (TEMPLATE = snowball, LANGUAGE = english)"
    )
    op.execute("CREATE TEXT SEARCH CONFIGURATION taskhive_english (COPY = simple)")
    op.execute(
        f"ALTER TEXT SEARCH CONFIGURATION taskhive_english "
        f"ALTER MAPPING FOR {_WORD_TYPES} WITH taskhive_stem"
    )
    op.create_table(
        "saved_views",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=True),
        sa.Column("team_id", sa.UUID(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "visibility IN ('private', 'project', 'team')", name="saved_views_visibility_check"
        ),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("saved_views_org_idx", "saved_views", ["org_id", "created_at"])


def downgrade() -> None:
    op.drop_index("saved_views_org_idx", table_name="saved_views")
    op.drop_table("saved_views")
    op.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS taskhive_english")
    op.execute("DROP TEXT SEARCH DICTIONARY IF EXISTS taskhive_stem")
