"""Several projects' batches in one statement: the write side of a host's group commit.

`ProjectStore.commit` writes one grain's batch in its own transaction. Under load
that is a transaction, a fence statement and one statement per row kind for every
batch of every grain. `commit_together` writes the batches that grains of one
host staged meanwhile in ONE statement (`_COMMIT`), which PostgreSQL runs as its
own transaction: a round trip instead of one per kind plus BEGIN and COMMIT. Its
parts, each a data-modifying `WITH` over arrays of every batch's rows:

1. the fence: `UPDATE projects … FROM unnest(…) WHERE epoch matches RETURNING id,
   epoch`. A project whose epoch moved on is not returned, and every other part
   writes only rows whose `(project, epoch)` the fence returned: nothing of a
   fenced batch is written, the other projects' batches still commit;
2. the idempotency records of every surviving batch; a key taken concurrently
   fails the statement (a unique violation), so nothing is written and
   `IdempotencyRace` is raised;
3. task rows (new ones with their `task_lookup` rows, changed ones by key);
4. the outbox `events`.

Fixed SQL straight to asyncpg: prepared once per connection, with no SQLAlchemy
compilation or parameter processing per write. Only batches `combinable` says yes
to come here (task creates and updates, events, replies); anything else (project
settings, deletions, comments, sprints, anything audited) takes
`ProjectStore.commit` as before.

Errors: when the server refuses the statement (a constraint, a deadlock, a
timeout) nothing was written and `NotCommitted` is raised, so the caller may write
each batch alone; any other failure (the connection lost mid-statement)
propagates as it is: the outcome is unknown, as for COMMIT of a single batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg
import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.audit import AUDITED
from domain.tasks import Task
from storage.project_store import Batch, IdempotencyRace

__all__ = ["NotCommitted", "combinable", "commit_together"]


class NotCommitted(Exception):
    """The database refused the combined statement: nothing of it was written."""


def combinable(batch: Batch) -> bool:
    """Whether `commit_together` can write this batch: only task creates and updates,
    their events and idempotency replies (the common, hot shape)."""
    return not (
        any(e.type in AUDITED for e in batch.events)  # audit rows: not written here
        or batch.deleted
        or batch.sprints
        or batch.extras
        or batch.project_changed
        or batch.teams_changed
        or batch.workflow_changed
        or batch.labels_changed
        or batch.fields_changed
        or batch.project_deleted
    )


# Every row array carries its batch's project and epoch (`p`, `ep`): a row is
# written only when the fence returned that pair. Labels and watchers, arrays of
# different lengths per task, travel as JSON text (unnest flattens arrays of arrays).
_FENCED = "(x.p, x.ep) IN (SELECT id, epoch FROM fence)"
_LABELS = "ARRAY(SELECT jsonb_array_elements_text(x.labels::jsonb))::varchar(64)[]"
_WATCHERS = "ARRAY(SELECT jsonb_array_elements_text(x.watchers::jsonb)::uuid)"
_CHANGEABLE_TYPES = (
    "$%d::text[], $%d::text[], $%d::text[], $%d::text[], $%d::uuid[], $%d::timestamptz[],"
    " $%d::bigint[], $%d::text[], $%d::uuid[], $%d::float8[], $%d::date[], $%d::date[],"
    " $%d::text[], $%d::text[], $%d::uuid[], $%d::text[]"
)
_CHANGEABLE_NAMES = (
    "title, description, status, priority, assignee_id, updated_at, version, rank, parent_id,"
    " estimate, due_date, start_date, labels, watchers, sprint_id, custom_fields"
)


def _params(first: int, count: int) -> tuple[int, ...]:
    return tuple(range(first, first + count))


_COMMIT = f"""
WITH fence AS (
    UPDATE projects AS p SET version = v.version, task_seq = v.task_seq
    FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[])
        AS v(id, epoch, version, task_seq)
    WHERE p.id = v.id AND p.epoch = v.epoch
    RETURNING p.id, p.epoch
), wrote_replies AS (
    INSERT INTO idempotency_keys (org_id, user_id, key, request_hash, status_code, response)
    SELECT x.o, x.u, x.k, x.h, x.s, x.r::jsonb
    FROM unnest($5::uuid[], $6::bigint[], $7::uuid[], $8::uuid[], $9::text[], $10::text[],
                $11::smallint[], $12::text[]) AS x(p, ep, o, u, k, h, s, r)
    WHERE {_FENCED}
), wrote_created AS (
    INSERT INTO tasks (project_id, id, org_id, number, key, reporter_id, created_at,
        {_CHANGEABLE_NAMES})
    SELECT x.p, x.id, x.org_id, x.number, x.key, x.reporter_id, x.created_at, x.title,
        x.description, x.status, x.priority, x.assignee_id, x.updated_at, x.version, x.rank,
        x.parent_id, x.estimate, x.due_date, x.start_date, {_LABELS}, {_WATCHERS}, x.sprint_id,
        x.custom_fields::jsonb
    FROM unnest($13::uuid[], $14::bigint[], $15::uuid[], $16::uuid[], $17::bigint[],
                $18::text[], $19::uuid[], $20::timestamptz[],
                {_CHANGEABLE_TYPES % _params(21, 16)})
        AS x(p, ep, id, org_id, number, key, reporter_id, created_at, {_CHANGEABLE_NAMES})
    WHERE {_FENCED}
), wrote_lookup AS (
    INSERT INTO task_lookup (id, org_id, project_id, key)
    SELECT x.id, x.org_id, x.p, x.key
    FROM unnest($13::uuid[], $14::bigint[], $15::uuid[], $16::uuid[], $18::text[])
        AS x(p, ep, id, org_id, key)
    WHERE {_FENCED}
), wrote_updated AS (
    UPDATE tasks AS t SET title = x.title, description = x.description, status = x.status,
        priority = x.priority, assignee_id = x.assignee_id, updated_at = x.updated_at,
        version = x.version, rank = x.rank, parent_id = x.parent_id, estimate = x.estimate,
        due_date = x.due_date, start_date = x.start_date, labels = {_LABELS},
        watchers = {_WATCHERS}, sprint_id = x.sprint_id, custom_fields = x.custom_fields::jsonb
    FROM unnest($37::uuid[], $38::bigint[], $39::uuid[], {_CHANGEABLE_TYPES % _params(40, 16)})
        AS x(p, ep, id, {_CHANGEABLE_NAMES})
    WHERE t.project_id = x.p AND t.id = x.id AND {_FENCED}
), wrote_events AS (
    INSERT INTO events (project_id, version, org_id, type, actor_id, task_id, payload,
                        created_at, request_id)
    SELECT x.p, x.v, x.o, x.t, x.a, x.k, x.d::jsonb, x.c, x.r
    FROM unnest($56::uuid[], $57::bigint[], $58::bigint[], $59::uuid[], $60::text[],
                $61::uuid[], $62::uuid[], $63::text[], $64::timestamptz[], $65::text[])
        AS x(p, ep, v, o, t, a, k, d, c, r)
    WHERE {_FENCED}
)
SELECT id, epoch FROM fence
"""  # noqa: S608 - built from constants only


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
    database refused the statement (nothing was written); any other exception
    (the connection lost mid-statement) leaves the outcome unknown.
    Precondition: every batch is `combinable`; a project appears at most once per
    epoch (one grain has one batch in flight).
    """
    ordered = sorted(items, key=lambda item: item[0].project.id)  # rows in a stable order
    args = _arguments(ordered)
    async with engine.connect() as sa_conn:
        raw = await sa_conn.get_raw_connection()
        conn: Any = raw.driver_connection  # asyncpg.Connection
        try:
            # One statement outside a transaction block: its own transaction.
            written = await conn.fetch(_COMMIT, *args)
        except asyncpg.UniqueViolationError as exc:
            if exc.table_name == "idempotency_keys":
                keys = {(k.org_id, k.user_id, k.key) for b, _ in ordered for k, _r in b.replies}
                raise NotCommitted("an idempotency key was taken") from IdempotencyRace(keys)
            raise NotCommitted(str(exc)) from exc
        except asyncpg.PostgresError as exc:  # refused: the statement was rolled back
            raise NotCommitted(str(exc) or type(exc).__name__) from exc
    # By id and epoch: a host may hold a fenced grain's batch and its successor's.
    owned = {(r["id"], r["epoch"]) for r in written}
    return {(b.project.id, epoch) for b, epoch in ordered} - owned


def _arguments(items: list[tuple[Batch, int]]) -> list[list[Any]]:
    """The statement's 65 parameters: one array per column of each row kind."""
    projects = [b.project for b, _ in items]
    replies = [(b.project.id, ep, k, r) for b, ep in items for k, r in b.replies]
    created = [(ep, x) for b, ep in items for x in b.created]
    updated = [(ep, x) for b, ep in items for x in b.updated]
    events = [(b.project.org_id, ep, e) for b, ep in items for e in b.events]
    created_cols = _columns([_changeable(x) for _, x in created], 16)
    updated_cols = _columns([_changeable(x) for _, x in updated], 16)
    return [
        [p.id for p in projects],
        [ep for _, ep in items],
        [p.version for p in projects],
        [p.task_seq for p in projects],
        # replies $5-$12
        [p for p, _, _, _ in replies],
        [ep for _, ep, _, _ in replies],
        [k.org_id for _, _, k, _ in replies],
        [k.user_id for _, _, k, _ in replies],
        [k.key for _, _, k, _ in replies],
        [k.request_hash for _, _, k, _ in replies],
        [r.status for _, _, _, r in replies],
        [_json(r.body) for _, _, _, r in replies],
        # created $13-$36
        [x.project_id for _, x in created],
        [ep for ep, _ in created],
        [x.id for _, x in created],
        [x.org_id for _, x in created],
        [x.number for _, x in created],
        [x.key for _, x in created],
        [x.reporter_id for _, x in created],
        [x.created_at for _, x in created],
        *created_cols,
        # updated $37-$55
        [x.project_id for _, x in updated],
        [ep for ep, _ in updated],
        [x.id for _, x in updated],
        *updated_cols,
        # events $56-$65
        [e.project_id for _, _, e in events],
        [ep for _, ep, _ in events],
        [e.version for _, _, e in events],
        [org for org, _, _ in events],
        [e.type.value for _, _, e in events],
        [e.actor_id for _, _, e in events],
        [e.task_id for _, _, e in events],
        [_json(e.payload) for _, _, e in events],
        [e.created_at for _, _, e in events],
        [e.request_id for _, _, e in events],
    ]


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows → one list per column (`width` of them, also when there are no rows)."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


def _changeable(x: Task) -> tuple[Any, ...]:
    """The columns a task update may change, in `_CHANGEABLE_NAMES` order."""
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
        _json(list(x.labels)),
        _json([str(w) for w in x.watchers]),
        x.sprint_id,
        _json(dict(x.custom_fields)),
    )
