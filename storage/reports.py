"""Reads behind the report endpoints, from the tables the reports consumer keeps.

Each query touches one project through its key or an index: day tallies by
`(project_id, day)`, a sprint's intervals through `report_task_intervals_sprint_idx`,
completions through `report_task_flow_done_idx`. Functions take an open
connection and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t
from storage.report_rows import DayChange, FlowRow, Interval, ScopeChange, SprintRow
from storage.report_write import sprint_from_row


async def report_zone(conn: AsyncConnection, project_id: UUID) -> str | None:
    """The zone the project's days are counted in now (None: nothing folded yet)."""
    zone: str | None = await conn.scalar(
        select(t.report_projects.c.time_zone).where(t.report_projects.c.project_id == project_id)
    )
    return zone


_DAYS_IN_RANGE = text(
    # One row per day (arrays of its changes), not one per (day, status): a year
    # is then 365 rows, and the per-row cost of the result is what dominates.
    "SELECT day, array_agg(status) AS statuses, array_agg(category) AS categories,"
    " array_agg(count_delta) AS counts, array_agg(estimate_delta) AS estimates"
    " FROM report_status_days WHERE project_id = :project_id AND day >= :first AND day <= :last"
    " GROUP BY day"
)


async def day_changes(
    conn: AsyncConnection, project_id: UUID, first: date, last: date
) -> list[DayChange]:
    """The stored changes from `first` to `last`, and the sum of all before (`day` None)."""
    d = t.report_status_days.c
    before = await conn.execute(
        select(d.status, d.category, func.sum(d.count_delta), func.sum(d.estimate_delta))
        .where(d.project_id == project_id, d.day < first)
        .group_by(d.status, d.category)
    )
    out = [DayChange(None, r[0], r[1], int(r[2]), r[3]) for r in before]
    rows = await conn.execute(
        _DAYS_IN_RANGE, {"project_id": project_id, "first": first, "last": last}
    )
    for day, statuses, categories, counts, estimates in rows:
        out += [
            DayChange(day, s, c, n, e)
            for s, c, n, e in zip(statuses, categories, counts, estimates, strict=True)
        ]
    return out


async def sprint(conn: AsyncConnection, project_id: UUID, sprint_id: UUID) -> SprintRow | None:
    c = t.report_sprints.c
    row = (
        await conn.execute(
            select(t.report_sprints).where(c.project_id == project_id, c.sprint_id == sprint_id)
        )
    ).one_or_none()
    return None if row is None else sprint_from_row(row)


async def sprint_intervals(
    conn: AsyncConnection, project_id: UUID, sprint_id: UUID
) -> list[Interval]:
    c = t.report_task_intervals.c
    rows = await conn.execute(
        select(c.task_id, c.start_version, c.start_at, c.end_version, c.end_at, c.status)
        .add_columns(c.category, c.estimate)
        .where(c.project_id == project_id, c.sprint_id == sprint_id)
    )
    return [
        Interval(
            task_id=r.task_id,
            start_version=int(r.start_version),
            start_at=r.start_at,
            status=r.status,
            category=r.category,
            estimate=r.estimate,
            sprint_id=sprint_id,
            end_version=r.end_version,
            end_at=r.end_at,
        )
        for r in rows
    ]


async def sprint_scope(
    conn: AsyncConnection, project_id: UUID, sprint_id: UUID
) -> list[ScopeChange]:
    c = t.report_sprint_scope.c
    rows = await conn.execute(
        select(t.report_sprint_scope)
        .where(c.project_id == project_id, c.sprint_id == sprint_id)
        .order_by(c.version)
    )
    return [
        ScopeChange(
            r.version, r.sprint_id, r.task_id, r.at, r.change, r.count_delta, r.estimate_delta
        )
        for r in rows
    ]


async def completed_sprints(conn: AsyncConnection, project_id: UUID, limit: int) -> list[SprintRow]:
    """The last `limit` completed sprints, most recent first."""
    c = t.report_sprints.c
    rows = await conn.execute(
        select(t.report_sprints)
        .where(c.project_id == project_id, c.state == "completed", c.completed_at.is_not(None))
        .order_by(c.completed_at.desc())
        .limit(limit)
    )
    return [sprint_from_row(r) for r in rows]


async def completions(
    conn: AsyncConnection, project_id: UUID, start: datetime, end: datetime
) -> list[FlowRow]:
    """Live tasks done now whose last completion is in `[start, end)`."""
    c = t.report_task_flow.c
    rows = await conn.execute(
        select(t.report_task_flow).where(
            c.project_id == project_id,
            c.done_at.is_not(None),
            c.done_at >= start,
            c.done_at < end,
        )
    )
    return [FlowRow(r.task_id, r.key, r.created_at, r.started_at, r.done_at) for r in rows]


_SPRINT_TALLIES = text(
    # For each instant: the sprint's intervals active then (started before it, not
    # ended before it; `Interval.active_at`), counted and summed in the database so
    # that a sprint of thousands of task changes returns one row per day.
    "SELECT t.at, count(i.task_id) AS scope, coalesce(sum(i.estimate), 0) AS scope_est,"
    " count(i.task_id) FILTER (WHERE i.category = 'done') AS done,"
    " coalesce(sum(i.estimate) FILTER (WHERE i.category = 'done'), 0) AS done_est"
    " FROM unnest(CAST(:instants AS timestamptz[])) AS t(at)"
    " LEFT JOIN report_task_intervals i ON i.project_id = :project_id"
    " AND i.sprint_id = :sprint_id AND i.start_at < t.at"
    " AND (i.end_at IS NULL OR i.end_at >= t.at)"
    " GROUP BY t.at"
)


async def sprint_tallies(
    conn: AsyncConnection, project_id: UUID, sprint_id: UUID, instants: Sequence[datetime]
) -> dict[datetime, tuple[int, Decimal, int, Decimal]]:
    """(scope count, scope estimate, done count, done estimate) of the sprint at each
    of `instants` (after every event stamped before it)."""
    if not instants:
        return {}
    rows = await conn.execute(
        _SPRINT_TALLIES,
        {"instants": list(instants), "project_id": project_id, "sprint_id": sprint_id},
    )
    found = {
        r.at: (int(r.scope), Decimal(r.scope_est), int(r.done), Decimal(r.done_est)) for r in rows
    }
    # Keyed by the instants asked for (the database hands back equal, not identical, values).
    return {at: found[at] for at in instants}
