"""Several projects' batches in one statement: the write side of a host's group commit.

`ProjectStore.commit` writes one grain's batch in its own transaction. Under load
that is a transaction, a fence statement and one statement per row kind for every
batch of every grain. `commit_together` writes the batches that grains of one
host staged meanwhile in ONE statement (`_statement`), which PostgreSQL runs as its
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

A kind no batch of the group has is left out of the statement (fewer parameters
to encode, fewer parts to plan): at most 16 texts, each prepared once per
connection.

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

import functools
from collections.abc import Callable, Sequence
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
    "text", "text", "text", "text", "uuid", "timestamptz", "bigint", "text", "uuid", "float8",
    "date", "date", "text", "text", "uuid", "text",
)  # fmt: skip
_CHANGEABLE_NAMES = (
    "title, description, status, priority, assignee_id, updated_at, version, rank, parent_id,"
    " estimate, due_date, start_date, labels, watchers, sprint_id, custom_fields"
)


def _arrays(first: int, types: Sequence[str]) -> str:
    """`$first::type[], …`: one array parameter per column."""
    return ", ".join(f"${first + i}::{t}[]" for i, t in enumerate(types))


_REPLY_TYPES = ("uuid", "bigint", "uuid", "uuid", "text", "text", "smallint", "text")
_CREATED_TYPES = (
    "uuid", "bigint", "uuid", "uuid", "bigint", "text", "uuid", "timestamptz", *_CHANGEABLE_TYPES,
)  # fmt: skip
_UPDATED_TYPES = ("uuid", "bigint", "uuid", *_CHANGEABLE_TYPES)
_EVENT_TYPES = (
    "uuid", "bigint", "bigint", "uuid", "text", "uuid", "uuid", "text", "timestamptz", "text",
)  # fmt: skip


def _replies_part(at: int) -> str:
    return f"""wrote_replies AS (
    INSERT INTO idempotency_keys (org_id, user_id, key, request_hash, status_code, response)
    SELECT x.o, x.u, x.k, x.h, x.s, x.r::jsonb
    FROM unnest({_arrays(at, _REPLY_TYPES)}) AS x(p, ep, o, u, k, h, s, r)
    WHERE {_FENCED}
)"""  # noqa: S608 - constants and parameter numbers only


def _created_part(at: int) -> str:
    lookup = f"${at}::uuid[], ${at + 1}::bigint[], ${at + 2}::uuid[], ${at + 3}::uuid[]"
    return f"""wrote_created AS (
    INSERT INTO tasks (project_id, id, org_id, number, key, reporter_id, created_at,
        {_CHANGEABLE_NAMES})
    SELECT x.p, x.id, x.org_id, x.number, x.key, x.reporter_id, x.created_at, x.title,
        x.description, x.status, x.priority, x.assignee_id, x.updated_at, x.version, x.rank,
        x.parent_id, x.estimate, x.due_date, x.start_date, {_LABELS}, {_WATCHERS}, x.sprint_id,
        x.custom_fields::jsonb
    FROM unnest({_arrays(at, _CREATED_TYPES)})
        AS x(p, ep, id, org_id, number, key, reporter_id, created_at, {_CHANGEABLE_NAMES})
    WHERE {_FENCED}
), wrote_lookup AS (
    INSERT INTO task_lookup (id, org_id, project_id, key)
    SELECT x.id, x.org_id, x.p, x.key
    FROM unnest({lookup}, ${at + 5}::text[]) AS x(p, ep, id, org_id, key)
    WHERE {_FENCED}
)"""  # noqa: S608 - constants and parameter numbers only


def _updated_part(at: int) -> str:
    return f"""wrote_updated AS (
    UPDATE tasks AS t SET title = x.title, description = x.description, status = x.status,
        priority = x.priority, assignee_id = x.assignee_id, updated_at = x.updated_at,
        version = x.version, rank = x.rank, parent_id = x.parent_id, estimate = x.estimate,
        due_date = x.due_date, start_date = x.start_date, labels = {_LABELS},
        watchers = {_WATCHERS}, sprint_id = x.sprint_id, custom_fields = x.custom_fields::jsonb
    FROM unnest({_arrays(at, _UPDATED_TYPES)}) AS x(p, ep, id, {_CHANGEABLE_NAMES})
    WHERE t.project_id = x.p AND t.id = x.id AND {_FENCED}
)"""  # noqa: S608 - constants and parameter numbers only


def _events_part(at: int) -> str:
    return f"""wrote_events AS (
    INSERT INTO events (project_id, version, org_id, type, actor_id, task_id, payload,
                        created_at, request_id)
    SELECT x.p, x.v, x.o, x.t, x.a, x.k, x.d::jsonb, x.c, x.r
    FROM unnest({_arrays(at, _EVENT_TYPES)}) AS x(p, ep, v, o, t, a, k, d, c, r)
    WHERE {_FENCED}
)"""  # noqa: S608 - constants and parameter numbers only


#: Each row kind: how its part of the statement is written (given its first
#: parameter's number) and how many array parameters it takes.
_PARTS: dict[str, tuple[Callable[[int], str], int]] = {
    "replies": (_replies_part, len(_REPLY_TYPES)),
    "created": (_created_part, len(_CREATED_TYPES)),
    "updated": (_updated_part, len(_UPDATED_TYPES)),
    "events": (_events_part, len(_EVENT_TYPES)),
}


@functools.cache
def _statement(kinds: tuple[str, ...]) -> str:
    """The statement writing the fence and the row kinds named (those a group of
    batches has: at most 16 texts, each prepared once per connection)."""
    parts = [
        """fence AS (
    UPDATE projects AS p SET version = v.version, task_seq = v.task_seq
    FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[])
        AS v(id, epoch, version, task_seq)
    WHERE p.id = v.id AND p.epoch = v.epoch
    RETURNING p.id, p.epoch
)"""
    ]
    at = 5
    for kind in kinds:
        part, width = _PARTS[kind]
        parts.append(part(at))
        at += width
    return "WITH " + ", ".join(parts) + "\nSELECT id, epoch FROM fence"


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
    if not items:
        return set()
    ordered = sorted(items, key=lambda item: item[0].project.id)  # rows in a stable order
    kinds, args = _arguments(ordered)
    async with engine.connect() as sa_conn:
        raw = await sa_conn.get_raw_connection()
        conn: Any = raw.driver_connection  # asyncpg.Connection
        try:
            # One statement outside a transaction block: its own transaction.
            written = await conn.fetch(_statement(kinds), *args)
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


def _arguments(items: list[tuple[Batch, int]]) -> tuple[tuple[str, ...], list[list[Any]]]:
    """The row kinds the batches have, and the statement's parameters: the fence's
    four arrays, then one array per column of each of those kinds (`_PARTS`' order,
    each row led by its batch's project and epoch)."""
    rows: dict[str, list[tuple[Any, ...]]] = {
        "replies": [
            (b.project.id, ep, k.org_id, k.user_id, k.key, k.request_hash, r.status, _json(r.body))
            for b, ep in items
            for k, r in b.replies
        ],
        "created": [
            (
                x.project_id,
                ep,
                x.id,
                x.org_id,
                x.number,
                x.key,
                x.reporter_id,
                x.created_at,
                *_changeable(x),
            )
            for b, ep in items
            for x in b.created
        ],
        "updated": [
            (x.project_id, ep, x.id, *_changeable(x)) for b, ep in items for x in b.updated
        ],
        "events": [
            (
                e.project_id,
                ep,
                e.version,
                b.project.org_id,
                e.type.value,
                e.actor_id,
                e.task_id,
                _json(e.payload),
                e.created_at,
                e.request_id,
            )
            for b, ep in items
            for e in b.events
        ],
    }
    fence = [(b.project.id, ep, b.project.version, b.project.task_seq) for b, ep in items]
    kinds = tuple(kind for kind in _PARTS if rows[kind])
    args = _columns(fence)
    for kind in kinds:
        args += _columns(rows[kind])
    return kinds, args


def _columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows (at least one) → one list per column."""
    return [list(column) for column in zip(*rows, strict=True)]


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
