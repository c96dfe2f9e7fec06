"""Several projects' batches in one transaction: the write side of a host's group commit.

`ProjectStore.commit` writes one grain's batch in its own transaction. Under load
that is a transaction, a fence statement and one statement per row kind for every
batch of every grain. `commit_together` writes the batches that grains of one
host staged meanwhile in ONE transaction, with one statement per kind for all of
them:

1. the fence: one `UPDATE projects … FROM unnest(…) WHERE epoch matches RETURNING
   id`. A project whose epoch moved on is not returned and nothing else of its
   batch is written; the other projects' batches still commit;
2. the idempotency records of every surviving batch (one multi-row insert, `ON
   CONFLICT DO NOTHING`); a key taken concurrently aborts the whole transaction
   with `IdempotencyRace`;
3. task rows (pipelined `executemany`) and `task_lookup` rows;
4. the outbox `events` of every surviving batch (one multi-row insert) and their
   audit rows.

It goes straight to asyncpg with fixed SQL: asyncpg prepares each statement once
per connection, and no SQLAlchemy compilation or parameter processing runs per
write. Only batches `combinable` says yes to come here (task creates and updates,
events, replies); anything else (project settings, deletions, comments, sprints)
takes `ProjectStore.commit` as before.

Errors: a failure before COMMIT rolls the transaction back and raises
`NotCommitted` (nothing of any batch was written, so the caller may write each
batch alone); a failure of COMMIT itself propagates as it is (the outcome is
unknown, as for a single batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.audit import audit_rows
from domain.tasks import Task
from storage.project_store import Batch, IdempotencyRace

__all__ = ["NotCommitted", "combinable", "commit_together"]


class NotCommitted(Exception):
    """The combined transaction failed before COMMIT and was rolled back."""


def combinable(batch: Batch) -> bool:
    """Whether `commit_together` can write this batch: only task creates and updates,
    their events and idempotency replies (the common, hot shape)."""
    return not (
        batch.deleted
        or batch.sprints
        or batch.extras
        or batch.project_changed
        or batch.teams_changed
        or batch.workflow_changed
        or batch.labels_changed
        or batch.fields_changed
        or batch.project_deleted
    )


_FENCE = """
UPDATE projects AS p SET version = v.version, task_seq = v.task_seq
FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[]) AS v(id, epoch, version, task_seq)
WHERE p.id = v.id AND p.epoch = v.epoch
RETURNING p.id, p.epoch
"""

_REPLIES = """
INSERT INTO idempotency_keys (org_id, user_id, key, request_hash, status_code, response)
SELECT o, u, k, h, s, r::jsonb
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::smallint[], $6::text[])
    AS x(o, u, k, h, s, r)
ON CONFLICT DO NOTHING
RETURNING org_id, user_id, key
"""

_INSERT_TASK = """
INSERT INTO tasks (project_id, id, org_id, number, key, reporter_id, created_at, title,
    description, status, priority, assignee_id, updated_at, version, rank, parent_id, estimate,
    due_date, start_date, labels, watchers, sprint_id, custom_fields)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
    $20, $21, $22, $23::text::jsonb)
"""
_UPDATE_TASK = """
UPDATE tasks SET title = $3, description = $4, status = $5, priority = $6, assignee_id = $7,
    updated_at = $8, version = $9, rank = $10, parent_id = $11, estimate = $12, due_date = $13,
    start_date = $14, labels = $15, watchers = $16, sprint_id = $17,
    custom_fields = $18::text::jsonb
WHERE project_id = $1 AND id = $2
"""
_INSERT_LOOKUP = "INSERT INTO task_lookup (id, org_id, project_id, key) VALUES ($1, $2, $3, $4)"
_EVENTS = """
INSERT INTO events (project_id, version, org_id, type, actor_id, task_id, payload, created_at,
                    request_id)
SELECT p, v, o, t, a, k, d::jsonb, c, r
FROM unnest($1::uuid[], $2::bigint[], $3::uuid[], $4::text[], $5::uuid[], $6::uuid[],
            $7::text[], $8::timestamptz[], $9::text[]) AS x(p, v, o, t, a, k, d, c, r)
"""
_AUDIT = """
INSERT INTO audit_log (org_id, actor_id, action, target_type, target_id, details, created_at,
                       request_id)
VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7, $8)
"""


def _json(value: Any) -> str | None:
    """JSON text for a JSONB parameter (cast in SQL, so no connection codec is needed)."""
    if value is None:
        return None
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


async def commit_together(
    engine: AsyncEngine, items: Sequence[tuple[Batch, int]]
) -> set[tuple[UUID, int]]:
    """Write `(batch, epoch)` pairs of distinct projects in one transaction.

    Returns the `(project id, epoch)` of the batches whose epoch had moved on
    (fenced): nothing of them was written; every other batch was, atomically.
    Raises `NotCommitted` (cause attached: e.g. `IdempotencyRace`) when the
    transaction failed before COMMIT; any other exception leaves the outcome unknown.
    Precondition: every batch is `combinable`; a project appears at most once per
    epoch (one grain has one batch in flight).
    """
    ordered = sorted(items, key=lambda item: item[0].project.id)  # rows in a stable order
    async with engine.connect() as sa_conn:
        raw = await sa_conn.get_raw_connection()
        conn: Any = raw.driver_connection  # asyncpg.Connection
        transaction = conn.transaction()
        await transaction.start()
        try:
            fenced = await _write(conn, ordered)
        except BaseException as exc:
            try:
                await transaction.rollback()
            except Exception:  # the connection is gone: the server rolls back
                await sa_conn.invalidate()
            if isinstance(exc, Exception):
                raise NotCommitted(str(exc) or type(exc).__name__) from exc
            raise
        await transaction.commit()
    return fenced


async def _write(conn: Any, items: list[tuple[Batch, int]]) -> set[tuple[UUID, int]]:
    projects = [b.project for b, _ in items]
    written = await conn.fetch(
        _FENCE,
        [p.id for p in projects],
        [epoch for _, epoch in items],
        [p.version for p in projects],
        [p.task_seq for p in projects],
    )
    # By id and epoch: a host may hold a fenced grain's batch and its successor's.
    owned = {(r["id"], r["epoch"]) for r in written}
    fenced = {(b.project.id, epoch) for b, epoch in items} - owned
    batches = [b for b, epoch in items if (b.project.id, epoch) in owned]
    await _write_replies(conn, batches)
    created = [t for b in batches for t in b.created]
    if created:
        await conn.executemany(
            _INSERT_TASK,
            [
                (
                    x.project_id,
                    x.id,
                    x.org_id,
                    x.number,
                    x.key,
                    x.reporter_id,
                    x.created_at,
                    *_changeable(x),
                )
                for x in created
            ],
        )
        await conn.executemany(
            _INSERT_LOOKUP, [(x.id, x.org_id, x.project_id, x.key) for x in created]
        )
    updated = [t for b in batches for t in b.updated]
    if updated:
        await conn.executemany(
            _UPDATE_TASK, [(x.project_id, x.id, *_changeable(x)) for x in updated]
        )
    await _write_events(conn, batches)
    return fenced


async def _write_replies(conn: Any, batches: list[Batch]) -> None:
    replies = [(k, r) for b in batches for k, r in b.replies]
    if not replies:
        return
    written = await conn.fetch(
        _REPLIES,
        [k.org_id for k, _ in replies],
        [k.user_id for k, _ in replies],
        [k.key for k, _ in replies],
        [k.request_hash for k, _ in replies],
        [r.status for _, r in replies],
        [_json(r.body) for _, r in replies],
    )
    wanted = {(k.org_id, k.user_id, k.key) for k, _ in replies}
    taken = wanted - {(r["org_id"], r["user_id"], r["key"]) for r in written}
    if taken:
        raise IdempotencyRace(taken)


def _changeable(x: Task) -> tuple[Any, ...]:
    """The columns a task update may change, in the order both statements take them
    (`_UPDATE_TASK` $3…$18, `_INSERT_TASK` $8…$23)."""
    return (
        x.title,
        x.description,
        x.status,
        x.priority.value,
        x.assignee_id,
        x.updated_at,
        x.version,
        x.rank,
        x.parent_id,
        x.estimate,
        x.due_date,
        x.start_date,
        list(x.labels),
        list(x.watchers),
        x.sprint_id,
        _json(dict(x.custom_fields)),
    )


async def _write_events(conn: Any, batches: list[Batch]) -> None:
    events = [(b.project.org_id, e) for b in batches for e in b.events]
    if not events:
        return
    await conn.execute(
        _EVENTS,
        [e.project_id for _, e in events],
        [e.version for _, e in events],
        [org for org, _ in events],
        [e.type.value for _, e in events],
        [e.actor_id for _, e in events],
        [e.task_id for _, e in events],
        [_json(e.payload) for _, e in events],
        [e.created_at for _, e in events],
        [e.request_id for _, e in events],
    )
    audit = [row for b in batches for row in audit_rows(b.project.org_id, b.events)]
    if audit:
        await conn.executemany(
            _AUDIT,
            [
                (
                    a["org_id"],
                    a["actor_id"],
                    a["action"],
                    a["target_type"],
                    a["target_id"],
                    _json(a["details"]),
                    a["created_at"],
                    a["request_id"],
                )
                for a in audit
            ],
        )
