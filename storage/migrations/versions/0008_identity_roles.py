"""identity: project visibility, team roles on projects, invitations, TOTP 2FA, OIDC links

Revision ID: 0008
Revises: 0001
Create Date: 2026-11-29 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "projects",
        sa.Column("visibility", sa.String(length=16), server_default="org", nullable=False),
    )
    op.create_check_constraint(
        "projects_visibility_check", "projects", "visibility IN ('org', 'private')"
    )
    op.add_column(
        "project_teams",
        sa.Column("role", sa.String(length=16), server_default="member", nullable=False),
    )
    op.create_check_constraint(
        "project_teams_role_check", "project_teams", "role IN ('admin', 'member', 'viewer')"
    )
    op.create_index("project_teams_team_idx", "project_teams", ["team_id"])
    op.create_index("project_members_user_idx", "project_members", ["org_id", "user_id"])
    op.create_table(
        "invitations",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by", sa.UUID(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_by", sa.UUID(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("role IN ('admin', 'member', 'guest')", name="invitations_role_check"),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["invited_by"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["accepted_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("invitations_org_idx", "invitations", ["org_id", "created_at"])
    op.create_table(
        "user_totp",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("enabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "code_hash"),
    )
    op.create_table(
        "user_identities",
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("provider", "subject"),
    )
    op.create_index("user_identities_user_idx", "user_identities", ["user_id"])


def downgrade() -> None:
    op.drop_index("user_identities_user_idx", table_name="user_identities")
    op.drop_table("user_identities")
    op.drop_table("recovery_codes")
    op.drop_table("user_totp")
    op.drop_index("invitations_org_idx", table_name="invitations")
    op.drop_table("invitations")
    op.drop_index("project_members_user_idx", table_name="project_members")
    op.drop_index("project_teams_team_idx", table_name="project_teams")
    op.drop_constraint("project_teams_role_check", "project_teams", type_="check")
    op.drop_column("project_teams", "role")
    op.drop_constraint("projects_visibility_check", "projects", type_="check")
    op.drop_column("projects", "visibility")
