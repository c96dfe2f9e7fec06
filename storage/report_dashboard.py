"""Reads behind `GET /api/v1/dashboard`: the caller's tasks and the health of the
projects they may read, from the live tables (not the analytics, which trail).

Every query is limited to the project ids the caller may read, passed in by the
handler, so nothing of another project is counted. Functions never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t

#: At most this many of the caller's open tasks are read (and `truncated` says so).
MY_TASKS_LIMIT = 2_000


@dataclass(frozen=True, slots=True)
class ProjectInfo:
    id: UUID
    key: str
    name: str
    time_zone: str
    workflow: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class TaskLine:
    id: UUID
    key: str
    title: str
    project_id: UUID
    status: str
    priority: str
    due_date: date | None
    updated_at: datetime


async def projects(conn: AsyncConnection, org_id: UUID, ids: Sequence[UUID]) -> list[ProjectInfo]:
    p = t.projects.c
    rows = await conn.execute(
        select(p.id, p.key, p.name, p.time_zone, p.workflow)
        .where(p.org_id == org_id, p.id.in_(list(ids)), p.deleted_at.is_(None))
        .order_by(p.name, p.id)
    )
    return [ProjectInfo(r.id, r.key, r.name, r.time_zone, r.workflow) for r in rows]


_LINE = (
    t.tasks.c.id,
    t.tasks.c.key,
    t.tasks.c.title,
    t.tasks.c.project_id,
    t.tasks.c.status,
    t.tasks.c.priority,
    t.tasks.c.due_date,
    t.tasks.c.updated_at,
)


def _line(r: Any) -> TaskLine:
    return TaskLine(
        r.id, r.key, r.title, r.project_id, r.status, r.priority, r.due_date, r.updated_at
    )


async def assigned(
    conn: AsyncConnection, org_id: UUID, user_id: UUID, ids: Sequence[UUID]
) -> list[TaskLine]:
    """Tasks assigned to the user in these projects (open or not: the caller knows
    each workflow's done statuses), at most `MY_TASKS_LIMIT` + 1."""
    c = t.tasks.c
    rows = await conn.execute(
        select(*_LINE)
        .where(c.org_id == org_id, c.assignee_id == user_id, c.project_id.in_(list(ids)))
        .order_by(c.updated_at.desc(), c.id)
        .limit(MY_TASKS_LIMIT + 1)
    )
    return [_line(r) for r in rows]


async def recently_updated(
    conn: AsyncConnection, org_id: UUID, ids: Sequence[UUID], limit: int
) -> list[TaskLine]:
    c = t.tasks.c
    rows = await conn.execute(
        select(*_LINE)
        .where(c.org_id == org_id, c.project_id.in_(list(ids)))
        .order_by(c.updated_at.desc(), c.id)
        .limit(limit)
    )
    return [_line(r) for r in rows]


async def status_counts(
    conn: AsyncConnection, org_id: UUID, ids: Sequence[UUID]
) -> dict[UUID, dict[str, int]]:
    """Project → status → number of tasks."""
    c = t.tasks.c
    rows = await conn.execute(
        select(c.project_id, c.status, func.count())
        .where(c.org_id == org_id, c.project_id.in_(list(ids)))
        .group_by(c.project_id, c.status)
    )
    out: dict[UUID, dict[str, int]] = {}
    for project_id, status, n in rows:
        out.setdefault(project_id, {})[status] = int(n)
    return out


@dataclass(frozen=True, slots=True)
class ActiveSprint:
    id: UUID
    project_id: UUID
    name: str
    end_date: date | None
    #: status → (tasks, estimate sum)
    statuses: dict[str, tuple[int, Decimal]]


async def active_sprints(
    conn: AsyncConnection, org_id: UUID, ids: Sequence[UUID]
) -> list[ActiveSprint]:
    s = t.sprints.c
    found = (
        await conn.execute(
            select(s.id, s.project_id, s.name, s.end_date)
            .where(s.org_id == org_id, s.project_id.in_(list(ids)), s.state == "active")
            .order_by(s.started_at, s.id)
        )
    ).all()
    if not found:
        return []
    c = t.tasks.c
    rows = await conn.execute(
        select(c.sprint_id, c.status, func.count(), func.coalesce(func.sum(c.estimate), 0))
        .where(
            c.org_id == org_id,
            c.project_id.in_([r.project_id for r in found]),
            c.sprint_id.in_([r.id for r in found]),
        )
        .group_by(c.sprint_id, c.status)
    )
    per: dict[UUID, dict[str, tuple[int, Decimal]]] = {}
    for sprint_id, status, n, total in rows:
        per.setdefault(sprint_id, {})[status] = (int(n), Decimal(repr(float(total))))
    return [ActiveSprint(r.id, r.project_id, r.name, r.end_date, per.get(r.id, {})) for r in found]
