"""SQLAlchemy Core tables: the schema of record.

Alembic migrations create these; `tests/integration/test_schema.py` checks that a
migrated database matches this metadata. Every tenant-owned row carries `org_id`.
`tasks` is hash-partitioned by `project_id`, so its key is `(project_id, id)`;
`task_lookup` finds a task's project from its id or human key.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import INET, JSONB, UUID

metadata = MetaData()


def _now() -> Column[object]:
    return Column(
        "created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")
    )


orgs = Table(
    "orgs",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", String(120), nullable=False),
    _now(),
)

users = Table(
    "users",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("name", String(120), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("is_active", Boolean, nullable=False, server_default=text("true")),
    _now(),
    Index("users_email_key", text("lower(email)"), unique=True),
)

org_members = Table(
    "org_members",
    metadata,
    Column("org_id", UUID(as_uuid=True), ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column(
        "user_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    Column("role", String(16), nullable=False),
    _now(),
    PrimaryKeyConstraint("org_id", "user_id"),
    CheckConstraint("role IN ('owner', 'admin', 'member', 'guest')", name="org_members_role_check"),
    Index("org_members_user_idx", "user_id"),
)

teams = Table(
    "teams",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("org_id", UUID(as_uuid=True), ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(120), nullable=False),
    _now(),
    UniqueConstraint("org_id", "name", name="teams_org_name_key"),
)

team_members = Table(
    "team_members",
    metadata,
    Column("org_id", UUID(as_uuid=True), nullable=False),
    Column(
        "team_id", UUID(as_uuid=True), ForeignKey("teams.id", ondelete="CASCADE"), nullable=False
    ),
    Column(
        "user_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    PrimaryKeyConstraint("team_id", "user_id"),
    Index("team_members_user_idx", "org_id", "user_id"),
)

projects = Table(
    "projects",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("org_id", UUID(as_uuid=True), ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(10), nullable=False),
    Column("name", String(120), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("owner_id", UUID(as_uuid=True), ForeignKey("users.id"), nullable=False),
    Column("settings", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    # version: bumped by every committed change; events are numbered by it.
    Column("version", BigInteger, nullable=False, server_default="0"),
    # epoch: taken anew by every grain activation; writes are conditional on it.
    Column("epoch", BigInteger, nullable=False, server_default="0"),
    # task_seq: the last task number handed out (keys are KEY-<number>).
    Column("task_seq", BigInteger, nullable=False, server_default="0"),
    Column("deleted_at", DateTime(timezone=True)),
    _now(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Index(
        "projects_org_key_key",
        "org_id",
        "key",
        unique=True,
        postgresql_where=text("deleted_at IS NULL"),
    ),
)

project_teams = Table(
    "project_teams",
    metadata,
    Column("org_id", UUID(as_uuid=True), nullable=False),
    Column(
        "project_id",
        UUID(as_uuid=True),
        ForeignKey("projects.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "team_id", UUID(as_uuid=True), ForeignKey("teams.id", ondelete="CASCADE"), nullable=False
    ),
    PrimaryKeyConstraint("project_id", "team_id"),
)

project_members = Table(
    "project_members",
    metadata,
    Column("org_id", UUID(as_uuid=True), nullable=False),
    Column(
        "project_id",
        UUID(as_uuid=True),
        ForeignKey("projects.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "user_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    Column("role", String(16), nullable=False),
    PrimaryKeyConstraint("project_id", "user_id"),
    CheckConstraint("role IN ('admin', 'member', 'viewer')", name="project_members_role_check"),
)

# Partitioned by HASH(project_id): see migrations/versions/0001_initial.py.
tasks = Table(
    "tasks",
    metadata,
    Column("project_id", UUID(as_uuid=True), nullable=False),
    Column("id", UUID(as_uuid=True), nullable=False),
    Column("org_id", UUID(as_uuid=True), nullable=False),
    Column("number", BigInteger, nullable=False),
    Column("key", String(24), nullable=False),
    Column("title", String(255), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("status", String(64), nullable=False),
    Column("priority", String(8), nullable=False, server_default="none"),
    Column("assignee_id", UUID(as_uuid=True)),
    Column("reporter_id", UUID(as_uuid=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", BigInteger, nullable=False),
    PrimaryKeyConstraint("project_id", "id"),
    UniqueConstraint("project_id", "number", name="tasks_project_number_key"),
    CheckConstraint(
        "priority IN ('none', 'low', 'medium', 'high', 'urgent')", name="tasks_priority_check"
    ),
    Index("tasks_assignee_idx", "assignee_id"),
    Index("tasks_status_project_idx", "status", "project_id"),
    Index("tasks_org_created_idx", "org_id", "created_at", "id"),
    postgresql_partition_by="HASH (project_id)",
)

task_lookup = Table(
    "task_lookup",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("org_id", UUID(as_uuid=True), nullable=False),
    Column("project_id", UUID(as_uuid=True), nullable=False),
    Column("key", String(24), nullable=False),
    Index("task_lookup_org_key_key", "org_id", "key", unique=True),
)

comments = Table(
    "comments",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("org_id", UUID(as_uuid=True), nullable=False),
    Column("project_id", UUID(as_uuid=True), nullable=False),
    Column("task_id", UUID(as_uuid=True), nullable=False),
    Column("author_id", UUID(as_uuid=True), ForeignKey("users.id"), nullable=False),
    Column("body", Text, nullable=False),
    _now(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("deleted_at", DateTime(timezone=True)),
    Index("comments_task_idx", "task_id", "created_at"),
)

attachments = Table(
    "attachments",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("org_id", UUID(as_uuid=True), nullable=False),
    Column("project_id", UUID(as_uuid=True), nullable=False),
    Column("task_id", UUID(as_uuid=True), nullable=False),
    Column("uploader_id", UUID(as_uuid=True), ForeignKey("users.id"), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("blob_key", Text, nullable=False),
    _now(),
    Column("deleted_at", DateTime(timezone=True)),
    Index("attachments_task_idx", "task_id"),
)

# The transactional outbox: one row per committed change, numbered per project.
events = Table(
    "events",
    metadata,
    Column("project_id", UUID(as_uuid=True), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("org_id", UUID(as_uuid=True), nullable=False),
    Column("type", String(48), nullable=False),
    Column("actor_id", UUID(as_uuid=True), nullable=False),
    Column("task_id", UUID(as_uuid=True)),
    Column("payload", JSONB, nullable=False),
    _now(),
    PrimaryKeyConstraint("project_id", "version"),
    Index("events_task_idx", "task_id", postgresql_where=text("task_id IS NOT NULL")),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("org_id", UUID(as_uuid=True), nullable=False),
    Column("actor_id", UUID(as_uuid=True)),
    Column("action", String(64), nullable=False),
    Column("target_type", String(32)),
    Column("target_id", Text),
    Column("client_ip", INET),
    Column("request_id", String(64)),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    _now(),
    Index("audit_log_org_created_idx", "org_id", "created_at", "id"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column(
        "user_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    Column("org_id", UUID(as_uuid=True), nullable=False),
    Column("family_id", UUID(as_uuid=True), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    _now(),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("org_id", UUID(as_uuid=True), nullable=False),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("key", String(255), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", SmallInteger, nullable=False),
    Column("response", JSONB),
    _now(),
    PrimaryKeyConstraint("org_id", "user_id", "key"),
)
