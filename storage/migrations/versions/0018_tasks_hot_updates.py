"""tasks: room on each page, and no index on `status`, so most updates are HOT

A task update that changes no indexed column, and finds room on its page, is a
heap-only tuple (HOT) update: no index entry is written. Every other update
writes one entry in each of the table's indexes, and after a checkpoint each
index page it touches is logged whole. With a million tasks nearly every page a
write touches is a different one: 93 % of task updates were not HOT and each
write logged about 2.6 whole pages.

- `tasks_status_project_idx` goes: no statement selects by status first (the
  organisation-wide list walks `tasks_org_created_idx`, a project's tasks its
  primary key), and status and rank are what most writes change.
- Each partition keeps a fifth of every page free (`fillfactor = 80`) for the
  new versions of its rows. It applies to pages written from now on; a table
  filled before this gains room as vacuum clears old row versions.

Revision ID: 0018
Revises: 0001
Create Date: 2026-12-01 15:10:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0001"
branch_labels = None
depends_on = None

#: Free space kept on each page of a tasks partition for its rows' updates.
FILLFACTOR = 80

_PARTITIONS = """
SELECT c.relname FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'tasks'::regclass
ORDER BY c.relname
"""


def _partitions() -> list[str]:
    return [row[0] for row in op.get_bind().exec_driver_sql(_PARTITIONS)]


def upgrade() -> None:
    op.drop_index("tasks_status_project_idx", table_name="tasks")
    # A partitioned table keeps no pages, so the setting goes on each partition.
    for name in _partitions():
        op.execute(f'ALTER TABLE "{name}" SET (fillfactor = {FILLFACTOR})')


def downgrade() -> None:
    for name in _partitions():
        op.execute(f'ALTER TABLE "{name}" RESET (fillfactor)')
    op.create_index("tasks_status_project_idx", "tasks", ["status", "project_id"], unique=False)
