"""Reading the transactional outbox (`events`) and keeping consumers' offsets.

A consumer's offset for a project is the version of the last event it handled.
Events of a project are gap-free and commit-ordered (its grain is the only
writer and numbers them by the project version in the committing transaction),
so "every event after my offset" is exactly what a consumer has not seen yet.

Functions take an open connection and never commit: the relay owns the
transaction, which also holds the consumer's own writes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, Integer, column, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t
from storage.db import transaction_driver


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One committed event as stored. `type` stays a string: consumers skip types
    they do not know, including ones added after they were written."""

    project_id: UUID
    version: int
    org_id: UUID
    type: str
    actor_id: UUID
    task_id: UUID | None
    payload: dict[str, Any]
    created_at: datetime


async def lagging_projects(conn: AsyncConnection, consumer: str, *, limit: int) -> list[UUID]:
    """Projects with events after `consumer`'s offset, those furthest behind first."""
    o = t.consumer_offsets
    offset = func.coalesce(o.c.version, 0)
    rows = await conn.scalars(
        select(t.projects.c.id)
        .select_from(
            t.projects.outerjoin(
                o, (o.c.project_id == t.projects.c.id) & (o.c.consumer == consumer)
            )
        )
        .where(t.projects.c.version > offset)
        .order_by((t.projects.c.version - offset).desc())
        .limit(limit)
    )
    return list(rows)


async def read_events(
    conn: AsyncConnection, project_id: UUID, *, after: int, limit: int
) -> list[StoredEvent]:
    e = t.events.c
    rows = await conn.execute(
        select(t.events)
        .where(e.project_id == project_id, e.version > after)
        .order_by(e.version)
        .limit(limit)
    )
    return [_stored(r) for r in rows]


_EVENT_COLUMNS = (
    "project_id",
    "version",
    "org_id",
    "type",
    "actor_id",
    "task_id",
    "payload",
    "created_at",
)


def _stored(r: Any) -> StoredEvent:
    return StoredEvent(
        project_id=r.project_id,
        version=r.version,
        org_id=r.org_id,
        type=r.type,
        actor_id=r.actor_id,
        task_id=r.task_id,
        payload=r.payload,
        created_at=r.created_at,
    )


async def advance(conn: AsyncConnection, consumer: str, project_id: UUID, version: int) -> None:
    o = t.consumer_offsets
    await conn.execute(
        update(o)
        .where(o.c.consumer == consumer, o.c.project_id == project_id)
        .values(version=version, updated_at=func.now())
    )


async def claim_next_events(
    conn: AsyncConnection,
    consumer: str,
    project_ids: Sequence[UUID],
    *,
    limit: int,
    recent: RecentEvents | None = None,
) -> dict[UUID, list[StoredEvent]]:
    """Lock `consumer`'s offsets of the projects for this transaction (creating
    them at 0) and return each project's next events after its offset (up to
    `limit` each), in one statement, the same whatever the number of projects (so
    prepared once). Projects with no new events are left out, and so are
    projects another relay holds (it is delivering their events now) or whose
    offset another relay created after this statement began.

    One statement instead of three (create, lock, read): the relay runs it for
    every pass of every consumer, and each round trip costs it CPU.

    With `recent`, events it holds are not read again: the statement reads only
    what follows them (or everything after the offset, when the offset lies
    before them), and the events read are added to it. A relay's consumers claim
    the same events one after another; each event is then read and decoded once,
    not once per consumer."""
    if not project_ids:
        return {}
    projects = list(dict.fromkeys(project_ids))
    # The runs as they are now: a consumer claiming meanwhile may replace them.
    runs = {p: recent.run(p) for p in projects} if recent is not None else {}
    rows = await conn.execute(
        _CLAIM_NEXT,
        {
            "consumer": consumer,
            "projects": projects,
            "lo": [run[0].version if (run := runs.get(p)) else 1 for p in projects],
            "hi": [run[-1].version if (run := runs.get(p)) else 0 for p in projects],
            "limit": limit,
        },
    )
    offsets: dict[UUID, int] = {}
    fresh: dict[UUID, list[StoredEvent]] = {}
    large: dict[UUID, set[int]] = {}
    for r in rows:
        offsets[r.project_id] = r.claimed_from
        if r.version is None:  # nothing past what `recent` holds
            continue
        fresh.setdefault(r.project_id, []).append(_stored(r))
        if r.stored_bytes > RecentEvents.LARGE_BYTES:
            large.setdefault(r.project_id, set()).add(r.version)
    out: dict[UUID, list[StoredEvent]] = {}
    for project_id, offset in offsets.items():
        read = fresh.get(project_id, [])
        held: Sequence[StoredEvent] = ()
        if (run := runs.get(project_id)) and run[0].version - 1 <= offset < run[-1].version:
            held = run[offset - run[0].version + 1 :]
        if recent is not None:
            recent.hold(project_id, read, large.get(project_id, ()))
        if events := [*held, *read][:limit]:
            out[project_id] = events
    return out


class RecentEvents:
    """Each project's latest events, as a relay's consumers claimed them: a run of
    consecutive versions per project, the projects claimed longest ago dropped
    first once `capacity` events are held. Events are immutable once committed,
    so a held event is as good as a read one.

    One instance per relay, shared by its consumers (one event loop: no locking).
    Events whose stored payload is larger than `LARGE_BYTES` (long descriptions)
    are not held: a run starts after the last of them."""

    #: An event's stored payload size (compressed, as PostgreSQL keeps it) above
    #: which each consumer reads it again rather than it being held.
    LARGE_BYTES = 8192

    def __init__(self, capacity: int = 10_000, *, per_project: int = 1_000) -> None:
        self._capacity = capacity
        self._per_project = per_project
        self._runs: OrderedDict[UUID, tuple[StoredEvent, ...]] = OrderedDict()
        self._held = 0

    def __len__(self) -> int:
        """Events held."""
        return self._held

    def run(self, project_id: UUID) -> tuple[StoredEvent, ...]:
        """The project's held events, consecutive versions (empty: none). A run is
        never changed in place: `hold` replaces it."""
        return self._runs.get(project_id, ())

    def hold(self, project_id: UUID, read: Sequence[StoredEvent], large: Container[int]) -> None:
        """Hold `read` (consecutive versions just read; `large`: versions not to
        hold): after the project's run when they follow on from it, before it when
        they reach into it or up to it (a consumer catching up from behind), instead
        of it otherwise. Without `read`, the run only counts as recently used."""
        old = self._runs.pop(project_id, ())
        self._held -= len(old)
        cut = -1  # position of the last large event read
        if large:
            cut = max((i for i, e in enumerate(read) if e.version in large), default=-1)
        tail = tuple(read[cut + 1 :])
        if not read:
            new = old
        elif cut < 0 and old and read[0].version == old[-1].version + 1:
            new = old + tail
        elif tail and old and tail[0].version <= old[0].version <= tail[-1].version + 1:
            new = tail + old[tail[-1].version - old[0].version + 1 :]
        else:
            new = tail
        new = new[-self._per_project :]
        if new:
            self._runs[project_id] = new
            self._held += len(new)
        while self._held > self._capacity and self._runs:
            _, dropped = self._runs.popitem(last=False)
            self._held -= len(dropped)


# `locked` reads the statement's snapshot, which does not hold the rows `created`
# inserts: each claimed offset comes from exactly one of them (a new row is
# locked by its insert). FOR UPDATE is not allowed beside UNION, hence the CTEs.
# `lo`/`hi` are the versions the relay holds already (`RecentEvents`): when the
# offset lies within or just before them, reading starts after `hi`. A claimed
# project with nothing to read still gives a row (null event) carrying its offset.
_CLAIM_NEXT = text(
    """
    WITH wanted AS (
        SELECT * FROM unnest(
            CAST(:projects AS uuid[]), CAST(:lo AS bigint[]), CAST(:hi AS bigint[])
        ) AS w(project_id, lo, hi)
    ), created AS (
        INSERT INTO consumer_offsets (consumer, project_id, version)
        SELECT :consumer, project_id, 0 FROM wanted
        ON CONFLICT DO NOTHING
        RETURNING project_id, version
    ), locked AS (
        SELECT project_id, version FROM consumer_offsets
        WHERE consumer = :consumer AND project_id = ANY(CAST(:projects AS uuid[]))
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        SELECT project_id, version FROM created
        UNION ALL
        SELECT project_id, version FROM locked
    )
    SELECT o.project_id, o.version AS claimed_from, e.version, e.org_id, e.type,
           e.actor_id, e.task_id, e.payload, e.created_at,
           pg_column_size(e.payload) AS stored_bytes
    FROM claimed AS o
    JOIN wanted AS w ON w.project_id = o.project_id
    LEFT JOIN LATERAL (
        SELECT * FROM events
        WHERE events.project_id = o.project_id
          AND events.version > CASE WHEN o.version >= w.lo - 1
                                    THEN GREATEST(o.version, w.hi) ELSE o.version END
        ORDER BY events.version
        LIMIT :limit
    ) AS e ON true
    ORDER BY o.project_id, e.version
    """
).columns(
    t.events.c.project_id,
    column("claimed_from", BigInteger),
    *(t.events.c[name] for name in _EVENT_COLUMNS[1:]),
    column("stored_bytes", Integer),
)


async def advance_many(conn: AsyncConnection, consumer: str, versions: Mapping[UUID, int]) -> None:
    """`advance` for many projects in one statement (on the transaction's asyncpg
    connection: the relay runs it at the end of every pass of every consumer)."""
    if not versions:
        return
    await (await transaction_driver(conn)).execute(
        _ADVANCE_MANY, consumer, list(versions), list(versions.values())
    )


_ADVANCE_MANY = (
    "UPDATE consumer_offsets AS c SET version = v.version, updated_at = now()"
    " FROM unnest($2::uuid[], $3::bigint[]) AS v(project_id, version)"
    " WHERE c.consumer = $1 AND c.project_id = v.project_id"
)


async def task_histories(
    conn: AsyncConnection, project_id: UUID, since: Mapping[UUID, int], *, before: int
) -> dict[UUID, list[tuple[str, dict[str, Any]]]]:
    """For each task of `since`, `(type, payload)` of its events with a version
    above its `since` and below `before`, oldest first (tasks without any are left
    out; `since` -1 reads a task from its first event). One statement for a
    consumer's whole batch, on the transaction's asyncpg connection; a task whose
    earlier events are already folded reads only the ones after them."""
    if not since:
        return {}
    rows = await (await transaction_driver(conn)).fetch(
        _TASK_HISTORIES, project_id, list(since), list(since.values()), before
    )
    out: dict[UUID, list[tuple[str, dict[str, Any]]]] = {}
    for r in rows:
        out.setdefault(r[0], []).append((r[1], r[2]))
    return out


_TASK_HISTORIES = (
    "SELECT e.task_id, e.type, e.payload"
    " FROM unnest($2::uuid[], $3::bigint[]) AS x(task_id, since)"
    " JOIN events AS e ON e.task_id = x.task_id AND e.project_id = $1"
    " AND e.version > x.since AND e.version < $4"
    " ORDER BY e.task_id, e.version"
)
