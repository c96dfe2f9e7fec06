"""orgs.catalog_version: bumped by a trigger whenever the set of an
organisation's live projects, or an owner or visibility among them, changes

Replicas cache the organisation's project facts (who may see which project)
and check this one number per request instead of reading every project.

Revision ID: 0016
Revises: 0008
Create Date: 2026-11-29 23:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0008"
branch_labels = None
depends_on = None

_FUNCTION = """
CREATE FUNCTION bump_org_catalog() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE orgs SET catalog_version = catalog_version + 1 WHERE id = OLD.org_id;
    END IF;
    IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.org_id <> OLD.org_id) THEN
        UPDATE orgs SET catalog_version = catalog_version + 1 WHERE id = NEW.org_id;
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.add_column(
        "orgs",
        sa.Column("catalog_version", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.execute(_FUNCTION)
    op.execute(
        "CREATE TRIGGER projects_catalog_changed AFTER INSERT OR DELETE ON projects"
        " FOR EACH ROW EXECUTE FUNCTION bump_org_catalog()"
    )
    # Every task write updates its project's row (its version); only these
    # columns decide who sees the project, so only they bump.
    op.execute(
        "CREATE TRIGGER projects_catalog_updated AFTER UPDATE ON projects FOR EACH ROW"
        " WHEN ((OLD.org_id, OLD.owner_id, OLD.visibility, OLD.deleted_at)"
        " IS DISTINCT FROM (NEW.org_id, NEW.owner_id, NEW.visibility, NEW.deleted_at))"
        " EXECUTE FUNCTION bump_org_catalog()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER projects_catalog_updated ON projects")
    op.execute("DROP TRIGGER projects_catalog_changed ON projects")
    op.execute("DROP FUNCTION bump_org_catalog()")
    op.drop_column("orgs", "catalog_version")
