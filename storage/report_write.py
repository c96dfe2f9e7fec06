"""Writes of the analytics tables, and the reads the fold starts from.

Only the reports consumer and the rebuild call these, inside the transaction
that also moves the consumer's offset. Functions never commit.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy import and_, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t
from storage.db import json_dumps, transaction_driver
from storage.report_rows import Effects, FlowRow, Interval, SprintRow, Tally

#: Rows per statement when writing many (PostgreSQL takes at most 32,767 parameters).
_CHUNK = 2_000


@dataclass(frozen=True, slots=True)
class ReportState:
    """What the tables of one project reflect: events up to `version`, days in `time_zone`."""

    version: int
    time_zone: str
    categories: dict[str, str]


@dataclass(frozen=True, slots=True)
class ProjectFacts:
    org_id: UUID
    time_zone: str
    workflow: dict[str, Any] | None


async def lock_state(conn: AsyncConnection, project_id: UUID) -> ReportState | None:
    """The project's report state, locked until the transaction ends (None: never folded)."""
    row = await (await transaction_driver(conn)).fetchrow(_LOCK_STATE, project_id)
    if row is None:
        return None
    return ReportState(int(row["version"]), row["time_zone"], dict(row["categories"]))


async def save_state(
    conn: AsyncConnection, project_id: UUID, org_id: UUID, state: ReportState
) -> None:
    await (await transaction_driver(conn)).execute(
        _SAVE_STATE,
        project_id,
        org_id,
        state.version,
        state.time_zone,
        json_dumps(state.categories),
    )


# The reads a fold starts from and the state it ends with run for every batch of
# events that can change a report: fixed SQL on the transaction's own asyncpg
# connection, without SQLAlchemy's statement building and result processing.
_LOCK_STATE = (
    "SELECT version, time_zone, categories FROM report_projects WHERE project_id = $1 FOR UPDATE"
)
_SAVE_STATE = """
INSERT INTO report_projects (project_id, org_id, version, time_zone, categories)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (project_id) DO UPDATE SET
    version = excluded.version,
    time_zone = excluded.time_zone,
    categories = excluded.categories,
    updated_at = now()
"""
_PROJECT_FACTS = "SELECT org_id, time_zone, workflow FROM projects WHERE id = $1"
_INTERVAL_COLUMNS = (
    "task_id, start_version, start_at, status, category, estimate, sprint_id, end_version, end_at"
)
_ALL_INTERVALS = (
    f"SELECT {_INTERVAL_COLUMNS} FROM report_task_intervals"  # noqa: S608 - constant
    " WHERE project_id = $1"
)
_OPEN_INTERVALS = f"{_ALL_INTERVALS} AND end_at IS NULL"
_OPEN_INTERVALS_OF = f"{_OPEN_INTERVALS} AND task_id = ANY($2::uuid[])"
_FLOWS = (
    "SELECT task_id, key, created_at, started_at, done_at FROM report_task_flow"
    " WHERE project_id = $1"
)
_FLOWS_OF = f"{_FLOWS} AND task_id = ANY($2::uuid[])"


async def pass_versions(conn: AsyncConnection, versions: Mapping[UUID, int]) -> None:
    """Record that each project's events up to its version were seen and changed
    nothing: one statement for all of them, no lock (a concurrent fold of later
    events keeps its own version)."""
    if versions:
        await (await transaction_driver(conn)).execute(
            _MOVE_ON, list(versions), list(versions.values())
        )


# The relay runs it for nearly every pass.
_MOVE_ON = (
    "UPDATE report_projects AS r SET version = v.version, updated_at = now()"
    " FROM unnest($1::uuid[], $2::bigint[]) AS v(project_id, version)"
    " WHERE r.project_id = v.project_id AND r.version < v.version"
)


async def project_facts(conn: AsyncConnection, project_id: UUID) -> ProjectFacts | None:
    """The project's zone and current workflow (deleted projects too: their events
    still fold)."""
    row = await (await transaction_driver(conn)).fetchrow(_PROJECT_FACTS, project_id)
    if row is None:
        return None
    return ProjectFacts(row["org_id"], row["time_zone"], row["workflow"])


def _interval(r: asyncpg.Record) -> Interval:
    end_version = r["end_version"]
    return Interval(
        task_id=r["task_id"],
        start_version=int(r["start_version"]),
        start_at=r["start_at"],
        status=r["status"],
        category=r["category"],
        estimate=r["estimate"],
        sprint_id=r["sprint_id"],
        end_version=None if end_version is None else int(end_version),
        end_at=r["end_at"],
    )


async def open_intervals(
    conn: AsyncConnection, project_id: UUID, task_ids: Collection[UUID] | None
) -> dict[UUID, Interval]:
    """Open intervals (tasks as they are) of `task_ids`, or of every task when None."""
    driver = await transaction_driver(conn)
    if task_ids is None:
        rows = await driver.fetch(_OPEN_INTERVALS, project_id)
    elif not task_ids:
        return {}
    else:
        rows = await driver.fetch(_OPEN_INTERVALS_OF, project_id, list(task_ids))
    return {r["task_id"]: _interval(r) for r in rows}


async def all_intervals(conn: AsyncConnection, project_id: UUID) -> list[Interval]:
    rows = await (await transaction_driver(conn)).fetch(_ALL_INTERVALS, project_id)
    return [_interval(r) for r in rows]


async def flows(
    conn: AsyncConnection, project_id: UUID, task_ids: Collection[UUID] | None
) -> dict[UUID, FlowRow]:
    driver = await transaction_driver(conn)
    if task_ids is None:
        rows = await driver.fetch(_FLOWS, project_id)
    elif not task_ids:
        return {}
    else:
        rows = await driver.fetch(_FLOWS_OF, project_id, list(task_ids))
    return {r[0]: FlowRow(r[0], r[1], r[2], r[3], r[4]) for r in rows}


def sprint_from_row(r: Any) -> SprintRow:
    return SprintRow(
        sprint_id=r.sprint_id,
        name=r.name,
        state=r.state,
        start_date=r.start_date,
        end_date=r.end_date,
        started_at=r.started_at,
        completed_at=r.completed_at,
        committed_count=r.committed_count,
        committed_estimate=r.committed_estimate,
        completed_count=r.completed_count,
        completed_estimate=r.completed_estimate,
        remaining_count=r.remaining_count,
        remaining_estimate=r.remaining_estimate,
    )


async def sprints(conn: AsyncConnection, project_id: UUID) -> dict[UUID, SprintRow]:
    c = t.report_sprints.c
    rows = await conn.execute(select(t.report_sprints).where(c.project_id == project_id))
    return {r.sprint_id: sprint_from_row(r) for r in rows}


async def _many(conn: AsyncConnection, stmt: Any, rows: Sequence[dict[str, Any]]) -> None:
    for i in range(0, len(rows), _CHUNK):
        await conn.execute(stmt, list(rows[i : i + _CHUNK]))


def _interval_row(project_id: UUID, iv: Interval) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "task_id": iv.task_id,
        "start_version": iv.start_version,
        "start_at": iv.start_at,
        "end_version": iv.end_version,
        "end_at": iv.end_at,
        "status": iv.status,
        "category": iv.category,
        "estimate": iv.estimate,
        "sprint_id": iv.sprint_id,
    }


_CLOSE = (
    update(t.report_task_intervals)
    .where(
        t.report_task_intervals.c.project_id == bindparam("b_project_id"),
        t.report_task_intervals.c.task_id == bindparam("b_task_id"),
        t.report_task_intervals.c.start_version == bindparam("b_start_version"),
    )
    .values(end_version=bindparam("end_version"), end_at=bindparam("end_at"))
)


async def write_effects(conn: AsyncConnection, project_id: UUID, effects: Effects) -> None:
    """Apply a fold's effects. Day tallies add to what is stored: the caller makes
    sure each event is folded once (the project's state version)."""
    if effects.closed:
        await _many(
            conn,
            _CLOSE,
            [
                {
                    "b_project_id": project_id,
                    "b_task_id": task_id,
                    "b_start_version": start,
                    "end_version": end_version,
                    "end_at": end_at,
                }
                for (task_id, start), (end_version, end_at) in effects.closed.items()
            ],
        )
    if effects.opened:
        stmt = pg_insert(t.report_task_intervals).on_conflict_do_nothing()
        await _many(conn, stmt, [_interval_row(project_id, iv) for iv in effects.opened.values()])
    await write_days(conn, project_id, effects.days)
    await _write_flows(conn, project_id, effects.flows)
    if effects.sprints:
        await _write_sprints(conn, project_id, list(effects.sprints.values()))
    if effects.scope:
        stmt = pg_insert(t.report_sprint_scope).on_conflict_do_nothing()
        await _many(
            conn,
            stmt,
            [
                {
                    "project_id": project_id,
                    "version": s.version,
                    "sprint_id": s.sprint_id,
                    "task_id": s.task_id,
                    "at": s.at,
                    "change": s.change,
                    "count_delta": s.count_delta,
                    "estimate_delta": s.estimate_delta,
                }
                for s in effects.scope
            ],
        )


async def write_days(
    conn: AsyncConnection, project_id: UUID, days: dict[tuple[Any, str, str], Tally]
) -> None:
    if not days:
        return
    stmt = pg_insert(t.report_status_days)
    stmt = stmt.on_conflict_do_update(
        index_elements=["project_id", "day", "status", "category"],
        set_={
            "count_delta": t.report_status_days.c.count_delta + stmt.excluded.count_delta,
            "estimate_delta": t.report_status_days.c.estimate_delta + stmt.excluded.estimate_delta,
        },
    )
    await _many(
        conn,
        stmt,
        [
            {
                "project_id": project_id,
                "day": day,
                "status": status,
                "category": category,
                "count_delta": tally.count,
                "estimate_delta": tally.estimate,
            }
            for (day, status, category), tally in sorted(days.items())
        ],
    )


async def _write_flows(
    conn: AsyncConnection, project_id: UUID, changed: dict[UUID, FlowRow | None]
) -> None:
    gone = [task_id for task_id, flow in changed.items() if flow is None]
    live = [flow for flow in changed.values() if flow is not None]
    c = t.report_task_flow.c
    if gone:
        await conn.execute(
            delete(t.report_task_flow).where(and_(c.project_id == project_id, c.task_id.in_(gone)))
        )
    if live:
        stmt = pg_insert(t.report_task_flow)
        stmt = stmt.on_conflict_do_update(
            index_elements=["project_id", "task_id"],
            set_={
                "key": stmt.excluded.key,
                "created_at": stmt.excluded.created_at,
                "started_at": stmt.excluded.started_at,
                "done_at": stmt.excluded.done_at,
            },
        )
        await _many(
            conn,
            stmt,
            [
                {
                    "project_id": project_id,
                    "task_id": f.task_id,
                    "key": f.key,
                    "created_at": f.created_at,
                    "started_at": f.started_at,
                    "done_at": f.done_at,
                }
                for f in live
            ],
        )


_SPRINT_FIELDS = (
    "name",
    "state",
    "start_date",
    "end_date",
    "started_at",
    "completed_at",
    "committed_count",
    "committed_estimate",
    "completed_count",
    "completed_estimate",
    "remaining_count",
    "remaining_estimate",
)


async def _write_sprints(conn: AsyncConnection, project_id: UUID, rows: list[SprintRow]) -> None:
    stmt = pg_insert(t.report_sprints)
    stmt = stmt.on_conflict_do_update(
        index_elements=["project_id", "sprint_id"],
        set_={name: stmt.excluded[name] for name in _SPRINT_FIELDS},
    )
    await conn.execute(
        stmt,
        [
            {
                "project_id": project_id,
                "sprint_id": s.sprint_id,
                **{name: getattr(s, name) for name in _SPRINT_FIELDS},
            }
            for s in rows
        ],
    )


async def replace_days(
    conn: AsyncConnection, project_id: UUID, days: dict[tuple[Any, str, str], Tally]
) -> None:
    """Swap the project's day tallies for `days` (after a time zone change)."""
    await conn.execute(
        delete(t.report_status_days).where(t.report_status_days.c.project_id == project_id)
    )
    await write_days(conn, project_id, days)


async def clear_project(conn: AsyncConnection, project_id: UUID) -> None:
    """Remove everything reports hold for the project (before a rebuild)."""
    for table in (
        t.report_task_intervals,
        t.report_status_days,
        t.report_sprints,
        t.report_sprint_scope,
        t.report_task_flow,
        t.report_projects,
    ):
        await conn.execute(delete(table).where(table.c.project_id == project_id))


async def hold_offset(conn: AsyncConnection, consumer: str, project_id: UUID) -> None:
    """Lock `consumer`'s offset of a project, waiting for a relay that holds it: while
    this transaction lasts the relay skips the project (it never waits)."""
    o = t.consumer_offsets
    await conn.execute(
        pg_insert(o)
        .values(consumer=consumer, project_id=project_id, version=0)
        .on_conflict_do_nothing()
    )
    await conn.execute(
        select(o.c.version)
        .where(o.c.consumer == consumer, o.c.project_id == project_id)
        .with_for_update()
    )


async def project_ids(conn: AsyncConnection) -> list[UUID]:
    """Every project that has events, live or deleted (their reports are rebuilt too)."""
    rows = await conn.scalars(
        select(t.projects.c.id).where(t.projects.c.version > 0).order_by(t.projects.c.id)
    )
    return list(rows)
