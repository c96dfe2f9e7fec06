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
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, INET, JSONB, UUID

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
    # Bumped by a trigger when the org's live projects, their owners or their
    # visibility change (0016): what replicas check their cached facts against.
    Column("catalog_version", BigInteger, nullable=False, server_default="0"),
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
    # Access tokens issued before this instant are refused (set by a password change).
    Column("tokens_valid_after", DateTime(timezone=True)),
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
    # workflow: statuses and transitions (domain.workflow); NULL for projects made
    # before workflows, whose statuses are then read from settings.
    Column("workflow", JSONB),
    # labels: the project's label set, [{name, color}].
    Column("labels", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    # custom_fields: the project's field definitions, [{id, name, type, ...}] (0011).
    Column("custom_fields", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    # time_zone: the IANA zone whose days the project's reports count in (0007).
    Column("time_zone", String(64), nullable=False, server_default="UTC"),
    # visibility: 'org' (every member sees it) or 'private' (only those granted a role), 0008.
    Column("visibility", String(16), nullable=False, server_default="org"),
    Column("deleted_at", DateTime(timezone=True)),
    _now(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    CheckConstraint("visibility IN ('org', 'private')", name="projects_visibility_check"),
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
    # role: the project role the team's members get (0008).
    Column("role", String(16), nullable=False, server_default="member"),
    PrimaryKeyConstraint("project_id", "team_id"),
    CheckConstraint("role IN ('admin', 'member', 'viewer')", name="project_teams_role_check"),
    Index("project_teams_team_idx", "team_id"),
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
    Index("project_members_user_idx", "org_id", "user_id"),
)

# Partitioned by HASH(project_id): see migrations/versions/0001_initial_schema.py. Each
# partition keeps a fifth of every page free, and no index holds a column most
# writes change (status, rank, title...), so most updates are HOT: see 0018.
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
    # rank: the card's fractional position (domain.ranks); compared bytewise.
    Column("rank", String(64, collation="C"), nullable=False, server_default=""),
    Column("parent_id", UUID(as_uuid=True)),
    Column("estimate", Double),
    Column("due_date", Date),
    Column("start_date", Date),
    Column("labels", ARRAY(String(64)), nullable=False, server_default=text("'{}'")),
    Column("watchers", ARRAY(UUID(as_uuid=True)), nullable=False, server_default=text("'{}'")),
    Column("sprint_id", UUID(as_uuid=True)),
    # custom_fields: values by field id (0011).
    Column("custom_fields", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    PrimaryKeyConstraint("project_id", "id"),
    UniqueConstraint("project_id", "number", name="tasks_project_number_key"),
    CheckConstraint(
        "priority IN ('none', 'low', 'medium', 'high', 'urgent')", name="tasks_priority_check"
    ),
    Index("tasks_assignee_idx", "assignee_id"),
    Index("tasks_org_created_idx", "org_id", "created_at", "id"),
    Index("tasks_sprint_idx", "sprint_id", postgresql_where=text("sprint_id IS NOT NULL")),
    postgresql_partition_by="HASH (project_id)",
)

sprints = Table(
    "sprints",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("org_id", UUID(as_uuid=True), nullable=False),
    Column(
        "project_id",
        UUID(as_uuid=True),
        ForeignKey("projects.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(120), nullable=False),
    Column("goal", Text, nullable=False, server_default=""),
    Column("start_date", Date),
    Column("end_date", Date),
    Column("state", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    CheckConstraint("state IN ('planned', 'active', 'completed')", name="sprints_state_check"),
    Index("sprints_project_idx", "project_id"),
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
    # revision: edits so far; each kept the previous body in comment_revisions (0005).
    Column("revision", Integer, nullable=False, server_default="0"),
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
    # thumbnail_key: the blob of an image's thumbnail, once made (0005).
    Column("thumbnail_key", Text),
    Index("attachments_task_idx", "task_id"),
    # Storage used per organisation (quota), and deleted rows whose blobs the
    # collector still has to remove.
    Index("attachments_org_live_idx", "org_id", postgresql_where=text("deleted_at IS NULL")),
    Index("attachments_deleted_idx", "deleted_at", postgresql_where=text("deleted_at IS NOT NULL")),
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
    #: The API request that caused the event (`X-Request-ID`), when there was one.
    Column("request_id", String(128)),
    PrimaryKeyConstraint("project_id", "version"),
    Index("events_task_idx", "task_id", "version", postgresql_where=text("task_id IS NOT NULL")),
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
    Column("request_id", String(128)),
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
    Index("refresh_tokens_family_idx", "family_id"),
    Index("refresh_tokens_user_idx", "user_id"),
)

# Personal API tokens for scripts; only the SHA-256 of the secret is stored.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column(
        "user_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    Column("org_id", UUID(as_uuid=True), nullable=False),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("scopes", ARRAY(String(16)), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    _now(),
    Index("api_tokens_user_idx", "user_id", "created_at"),
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
    Index("idempotency_keys_created_idx", "created_at"),
)

# -- notifications (migration 0002) ------------------------------------------------

# Per-(consumer, project) position in the outbox: the last event version handled.
consumer_offsets = Table(
    "consumer_offsets",
    metadata,
    Column("consumer", String(64), nullable=False),
    Column("project_id", UUID(as_uuid=True), nullable=False),
    Column("version", BigInteger, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    PrimaryKeyConstraint("consumer", "project_id"),
)

# The in-app inbox. One row per (recipient, event, kind): replays insert nothing.
notifications = Table(
    "notifications",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("org_id", UUID(as_uuid=True), nullable=False),
    Column(
        "user_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    Column("project_id", UUID(as_uuid=True), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("task_id", UUID(as_uuid=True)),
    Column("actor_id", UUID(as_uuid=True)),
    Column("kind", String(32), nullable=False),
    Column("title", String(300), nullable=False),
    Column("summary", Text, nullable=False),
    Column("payload", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    _now(),
    Column("read_at", DateTime(timezone=True)),
    UniqueConstraint("user_id", "project_id", "version", "kind", name="notifications_event_key"),
    Index("notifications_inbox_idx", "user_id", "org_id", "created_at", "id"),
    Index(
        "notifications_unread_idx",
        "user_id",
        "org_id",
        postgresql_where=text("read_at IS NULL"),
    ),
)

notification_settings = Table(
    "notification_settings",
    metadata,
    Column(
        "user_id",
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("email_enabled", Boolean, nullable=False, server_default=text("true")),
    # kind → channel, only for kinds the user changed from the default.
    Column("channels", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
)

# Durable email queue: one row per notification to email; a user's due rows are
# sent together as one digest (`batch_id` names the email that carried them).
email_queue = Table(
    "email_queue",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column(
        "user_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    Column(
        "notification_id",
        UUID(as_uuid=True),
        ForeignKey("notifications.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("to_addr", String(320), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("sent_at", DateTime(timezone=True)),
    Column("failed_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("batch_id", UUID(as_uuid=True)),
    _now(),
    Index(
        "email_queue_pending_idx",
        "user_id",
        "next_attempt_at",
        postgresql_where=text("sent_at IS NULL AND failed_at IS NULL"),
    ),
)

# -- comments and attachments (migration 0005) -------------------------------------

# The previous bodies of edited comments: revision n holds the body before edit n.
comment_revisions = Table(
    "comment_revisions",
    metadata,
    Column(
        "comment_id",
        UUID(as_uuid=True),
        ForeignKey("comments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("revision", Integer, nullable=False),
    Column("org_id", UUID(as_uuid=True), nullable=False),
    Column("body", Text, nullable=False),
    Column("editor_id", UUID(as_uuid=True), nullable=False),
    # When this body was replaced.
    Column("replaced_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("comment_id", "revision"),
)

# One row per (comment, user, emoji): a user reacts with each emoji at most once.
comment_reactions = Table(
    "comment_reactions",
    metadata,
    Column(
        "comment_id",
        UUID(as_uuid=True),
        ForeignKey("comments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "user_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    Column("emoji", String(64), nullable=False),
    Column("org_id", UUID(as_uuid=True), nullable=False),
    _now(),
    PrimaryKeyConstraint("comment_id", "user_id", "emoji"),
)

# Per-organisation storage quota overriding TASKHIVE_ORG_STORAGE_QUOTA_BYTES.
org_quotas = Table(
    "org_quotas",
    metadata,
    Column(
        "org_id", UUID(as_uuid=True), ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("storage_bytes", BigInteger, nullable=False),
)

# Outgoing webhooks: organisation-wide (project_id NULL) or one project's.
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("org_id", UUID(as_uuid=True), ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column("project_id", UUID(as_uuid=True), ForeignKey("projects.id", ondelete="CASCADE")),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("events", ARRAY(String(64)), nullable=False),
    Column("description", String(200), nullable=False, server_default=text("''")),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("consecutive_failures", Integer, nullable=False, server_default=text("0")),
    Column("disabled_reason", Text),
    Column("created_by", UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")),
    _now(),
    Index("webhooks_org_idx", "org_id", "project_id"),
)

# One row per (hook, event): the payload as first built, its attempts and outcome.
# `id` is the delivery's idempotency id, sent with every attempt.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column(
        "webhook_id",
        UUID(as_uuid=True),
        ForeignKey("webhooks.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("org_id", UUID(as_uuid=True), nullable=False),
    Column("project_id", UUID(as_uuid=True)),
    Column("version", BigInteger),
    Column("event_type", String(64), nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("status", String(16), nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    _now(),
    Column("finished_at", DateTime(timezone=True)),
    CheckConstraint(
        "status IN ('pending', 'delivered', 'failed')", name="webhook_deliveries_status_check"
    ),
    UniqueConstraint("webhook_id", "project_id", "version", name="webhook_deliveries_event_key"),
    Index("webhook_deliveries_log_idx", "webhook_id", "created_at", "id"),
    Index(
        "webhook_deliveries_due_idx",
        "next_attempt_at",
        postgresql_where=text("status = 'pending'"),
    ),
)


# -- identity: invitations and two-factor authentication (migration 0008) ------------

# An invitation to join an organisation, accepted with the token emailed to `email`.
invitations = Table(
    "invitations",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("org_id", UUID(as_uuid=True), ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column("email", String(320), nullable=False),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("invited_by", UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("accepted_at", DateTime(timezone=True)),
    Column("accepted_by", UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")),
    Column("revoked_at", DateTime(timezone=True)),
    _now(),
    CheckConstraint("role IN ('admin', 'member', 'guest')", name="invitations_role_check"),
    Index("invitations_org_idx", "org_id", "created_at"),
)

# A user's TOTP secret; `enabled_at` is set once a first code confirmed it.
user_totp = Table(
    "user_totp",
    metadata,
    Column(
        "user_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("secret", String(64), nullable=False),
    Column("enabled_at", DateTime(timezone=True)),
    # The last time step a code was accepted for: a code is good once.
    Column("last_step", BigInteger),
    _now(),
)

# Accounts at OpenID Providers linked to users: (provider, subject) → user.
user_identities = Table(
    "user_identities",
    metadata,
    Column("provider", String(64), nullable=False),
    Column("subject", String(255), nullable=False),
    Column(
        "user_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    _now(),
    PrimaryKeyConstraint("provider", "subject"),
    Index("user_identities_user_idx", "user_id"),
)

# Single-use recovery codes for a lost authenticator, stored as SHA-256.
recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column(
        "user_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    Column("code_hash", String(64), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    _now(),
    PrimaryKeyConstraint("user_id", "code_hash"),
)

# -- reports (migration 0007) ------------------------------------------------------
# Kept by the `reports` outbox consumer from the event log; `taskhive reports
# rebuild` recomputes them. Estimates are NUMERIC so that sums are exact.

# Per project: the last event applied (replays at or below it change nothing), the
# zone its days are counted in, and the status → category map in force.
report_projects = Table(
    "report_projects",
    metadata,
    Column("project_id", UUID(as_uuid=True), primary_key=True),
    Column("org_id", UUID(as_uuid=True), nullable=False),
    Column("version", BigInteger, nullable=False, server_default="0"),
    Column("time_zone", String(64), nullable=False, server_default="UTC"),
    Column("categories", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
)

# A task's state over time: one row per span of unchanged status, estimate and
# sprint, [start_at, end_at); the open one (end_at NULL) is the task now.
report_task_intervals = Table(
    "report_task_intervals",
    metadata,
    Column("project_id", UUID(as_uuid=True), nullable=False),
    Column("task_id", UUID(as_uuid=True), nullable=False),
    Column("start_version", BigInteger, nullable=False),
    Column("start_at", DateTime(timezone=True), nullable=False),
    Column("end_version", BigInteger),
    Column("end_at", DateTime(timezone=True)),
    Column("status", String(64), nullable=False),
    Column("category", String(16), nullable=False),
    Column("estimate", Numeric),
    Column("sprint_id", UUID(as_uuid=True)),
    PrimaryKeyConstraint("project_id", "task_id", "start_version"),
    Index(
        "report_task_intervals_sprint_idx",
        "project_id",
        "sprint_id",
        postgresql_where=text("sprint_id IS NOT NULL"),
    ),
)

# Daily changes of the task count and estimate sum per status (and its category),
# on the project's local days: the value at the end of a day is the running sum.
report_status_days = Table(
    "report_status_days",
    metadata,
    Column("project_id", UUID(as_uuid=True), nullable=False),
    Column("day", Date, nullable=False),
    Column("status", String(64), nullable=False),
    Column("category", String(16), nullable=False),
    Column("count_delta", BigInteger, nullable=False),
    Column("estimate_delta", Numeric, nullable=False),
    PrimaryKeyConstraint("project_id", "day", "status", "category"),
)

# Sprints as reports see them: commitment at start, outcome at completion.
report_sprints = Table(
    "report_sprints",
    metadata,
    Column("project_id", UUID(as_uuid=True), nullable=False),
    Column("sprint_id", UUID(as_uuid=True), nullable=False),
    Column("name", String(120), nullable=False),
    Column("state", String(16), nullable=False),
    Column("start_date", Date),
    Column("end_date", Date),
    Column("started_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    Column("committed_count", Integer),
    Column("committed_estimate", Numeric),
    Column("completed_count", Integer),
    Column("completed_estimate", Numeric),
    Column("remaining_count", Integer),
    Column("remaining_estimate", Numeric),
    PrimaryKeyConstraint("project_id", "sprint_id"),
)

# Scope changes of active sprints, one per `sprint.scope_changed` event.
report_sprint_scope = Table(
    "report_sprint_scope",
    metadata,
    Column("project_id", UUID(as_uuid=True), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("sprint_id", UUID(as_uuid=True), nullable=False),
    Column("task_id", UUID(as_uuid=True), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("change", String(16), nullable=False),
    Column("count_delta", SmallInteger, nullable=False),
    Column("estimate_delta", Numeric, nullable=False),
    PrimaryKeyConstraint("project_id", "version"),
    Index("report_sprint_scope_sprint_idx", "project_id", "sprint_id"),
)

# Per live task: when it was created, first went in progress, and (if done now)
# last became done. Cycle time and throughput read it.
report_task_flow = Table(
    "report_task_flow",
    metadata,
    Column("project_id", UUID(as_uuid=True), nullable=False),
    Column("task_id", UUID(as_uuid=True), nullable=False),
    Column("key", String(24), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("done_at", DateTime(timezone=True)),
    PrimaryKeyConstraint("project_id", "task_id"),
    Index(
        "report_task_flow_done_idx",
        "project_id",
        "done_at",
        postgresql_where=text("done_at IS NOT NULL"),
    ),
)

# -- search (migration 0006) ---------------------------------------------------------

# A named filter (the filter language's text, as printed canonically). Private to
# its owner, or shared with everyone who may read a project, or with a team.
saved_views = Table(
    "saved_views",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("org_id", UUID(as_uuid=True), ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column(
        "owner_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    Column("name", String(120), nullable=False),
    Column("query", Text, nullable=False),
    Column("visibility", String(16), nullable=False),
    Column("project_id", UUID(as_uuid=True), ForeignKey("projects.id", ondelete="CASCADE")),
    Column("team_id", UUID(as_uuid=True), ForeignKey("teams.id", ondelete="CASCADE")),
    _now(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    CheckConstraint(
        "visibility IN ('private', 'project', 'team')", name="saved_views_visibility_check"
    ),
    Index("saved_views_org_idx", "org_id", "created_at"),
)

# Import jobs: planned, then run batch by batch; `done` counts imported issues.
imports = Table(
    "imports",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("org_id", UUID(as_uuid=True), nullable=False),
    Column(
        "project_id",
        UUID(as_uuid=True),
        ForeignKey("projects.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("created_by", UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")),
    Column("source", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("total", Integer, nullable=False, server_default=text("0")),
    Column("done", Integer, nullable=False, server_default=text("0")),
    Column("report", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("error", Text),
    _now(),
    Column("finished_at", DateTime(timezone=True)),
    # While running: what is left to do, so another process can resume it (0014).
    Column("plan", JSONB),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    CheckConstraint(
        "status IN ('running', 'done', 'failed', 'rejected')", name="imports_status_check"
    ),
    Index("imports_project_idx", "project_id", "created_at"),
    Index("imports_running_idx", "heartbeat_at", postgresql_where=text("status = 'running'")),
)

# Automation rules of a project (domain.automation).
automation_rules = Table(
    "automation_rules",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("org_id", UUID(as_uuid=True), nullable=False),
    Column(
        "project_id",
        UUID(as_uuid=True),
        ForeignKey("projects.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(100), nullable=False),
    Column("trigger", JSONB, nullable=False),
    Column("condition", Text, nullable=False, server_default=text("''")),
    Column("actions", JSONB, nullable=False),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("consecutive_failures", Integer, nullable=False, server_default=text("0")),
    Column("disabled_reason", Text),
    Column("created_by", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")),
    _now(),
    # When a scheduled or due-date rule looks for tasks next.
    Column("next_run_at", DateTime(timezone=True)),
    Index("automation_rules_project_idx", "project_id"),
    Index("automation_rules_due_idx", "next_run_at", postgresql_where=text("enabled")),
)

# One row per (rule, triggering event): queued by the consumer, run by the worker.
automation_runs = Table(
    "automation_runs",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column(
        "rule_id",
        UUID(as_uuid=True),
        ForeignKey("automation_rules.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("org_id", UUID(as_uuid=True), nullable=False),
    Column("project_id", UUID(as_uuid=True), nullable=False),
    Column("version", BigInteger),
    Column("task_id", UUID(as_uuid=True), nullable=False),
    # What the run is for, once per rule and task: `v<version>` for an event,
    # `s<hour>` for a schedule's firing, `d<due date>` for a due date.
    Column("occasion", String(40), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("depth", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("detail", Text),
    _now(),
    Column("finished_at", DateTime(timezone=True)),
    CheckConstraint(
        "status IN ('pending', 'succeeded', 'skipped', 'failed', 'loop_stopped')",
        name="automation_runs_status_check",
    ),
    UniqueConstraint("rule_id", "task_id", "occasion", name="automation_runs_occasion_key"),
    Index("automation_runs_rule_idx", "rule_id", "created_at"),
    Index("automation_runs_pending_idx", "created_at", postgresql_where=text("status = 'pending'")),
)
