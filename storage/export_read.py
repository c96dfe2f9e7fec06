"""Reading a whole project for export, page by page (a project may hold 100,000s
of tasks; memory stays one page).

Functions take an open connection and never commit; every query is scoped by
`org_id` and `project_id`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.sprints import Sprint
from domain.tasks import Task
from storage import tables as t
from storage.project_store import sprint_from_row, task_from_row
from storage.task_extras import attachment_from_row, comment_from_row

PAGE = 1000


async def tasks(conn: AsyncConnection, org_id: UUID, project_id: UUID) -> AsyncIterator[Task]:
    """The tasks in number order (deleted tasks are gone from the table)."""
    c = t.tasks.c
    after = 0
    while True:
        rows = list(
            await conn.execute(
                select(t.tasks)
                .where(
                    c.project_id == project_id,
                    c.org_id == org_id,
                    c.number > after,
                )
                .order_by(c.number)
                .limit(PAGE)
            )
        )
        for row in rows:
            yield task_from_row(row)
        if len(rows) < PAGE:
            return
        after = rows[-1].number


async def comments(
    conn: AsyncConnection, org_id: UUID, project_id: UUID
) -> AsyncIterator[dict[str, Any]]:
    c = t.comments.c
    rows = await conn.stream(
        select(t.comments)
        .where(c.project_id == project_id, c.org_id == org_id, c.deleted_at.is_(None))
        .order_by(c.created_at, c.id)
    )
    async for row in rows:
        comment = comment_from_row(row)
        yield {**comment.as_json(), "body": comment.body}


async def attachments(
    conn: AsyncConnection, org_id: UUID, project_id: UUID
) -> AsyncIterator[dict[str, Any]]:
    a = t.attachments.c
    rows = await conn.stream(
        select(t.attachments)
        .where(a.project_id == project_id, a.org_id == org_id, a.deleted_at.is_(None))
        .order_by(a.created_at, a.id)
    )
    async for row in rows:
        yield attachment_from_row(row).as_json()


async def sprints(conn: AsyncConnection, org_id: UUID, project_id: UUID) -> list[Sprint]:
    s = t.sprints.c
    rows = await conn.execute(
        select(t.sprints)
        .where(s.project_id == project_id, s.org_id == org_id)
        .order_by(s.created_at)
    )
    return [sprint_from_row(r) for r in rows]


async def people(conn: AsyncConnection, org_id: UUID) -> list[dict[str, str]]:
    """The organisation's members: exports name people by email, which imports map."""
    u, m = t.users.c, t.org_members.c
    rows = await conn.execute(
        select(u.id, u.email, u.name)
        .join(t.org_members, m.user_id == u.id)
        .where(m.org_id == org_id)
    )
    return [{"id": str(r.id), "email": r.email, "name": r.name} for r in rows]


async def task_keys(conn: AsyncConnection, org_id: UUID, project_id: UUID) -> dict[UUID, str]:
    """Task id → key, for naming parents."""
    c = t.tasks.c
    rows = await conn.execute(
        select(c.id, c.key).where(c.project_id == project_id, c.org_id == org_id)
    )
    return {r.id: r.key for r in rows}
