"""Reading what the index holds from PostgreSQL, the state of record.

The consumer reads the tasks its events name; a rebuild reads whole
organisations in keyset-ordered batches. Either way the index gets a task's
*current* state, which is what makes applying an event twice harmless.
Functions take an open connection and never commit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.projects import Project
from domain.tasks import Task
from search.schema import IndexedTask
from storage import catalog
from storage import tables as t
from storage.project_store import task_from_row


async def _extras(
    conn: AsyncConnection, task_ids: Sequence[UUID]
) -> tuple[dict[UUID, list[str]], dict[UUID, int]]:
    if not task_ids:
        return {}, {}
    c, a = t.comments.c, t.attachments.c
    comments: dict[UUID, list[str]] = defaultdict(list)
    rows = await conn.execute(
        select(c.task_id, c.body)
        .where(c.task_id.in_(list(task_ids)), c.deleted_at.is_(None))
        .order_by(c.task_id, c.created_at)
    )
    for row in rows:
        comments[row.task_id].append(row.body)
    counts = await conn.execute(
        select(a.task_id, func.count())
        .where(a.task_id.in_(list(task_ids)), a.deleted_at.is_(None))
        .group_by(a.task_id)
    )
    return comments, {row[0]: int(row[1]) for row in counts}


async def _indexed(
    conn: AsyncConnection, project: Project, tasks: Sequence[Task]
) -> list[IndexedTask]:
    comments, attachments = await _extras(conn, [x.id for x in tasks])
    out = []
    types = {f.id: f.type.value for f in project.fields}
    for task in tasks:
        category = project.workflow.category_of(task.status)
        out.append(
            IndexedTask(
                task=task.as_json(),
                org_id=str(task.org_id),
                category=category.value if category else "todo",
                attachments=attachments.get(task.id, 0),
                comments=tuple(comments.get(task.id, ())),
                field_types=types,
            )
        )
    return out


async def live_project(conn: AsyncConnection, project_id: UUID) -> Project | None:
    org_id = await conn.scalar(select(t.projects.c.org_id).where(t.projects.c.id == project_id))
    if org_id is None:
        return None
    return await catalog.get_project(conn, org_id=org_id, project_id=project_id)


async def load_tasks(
    conn: AsyncConnection, project: Project, task_ids: Sequence[UUID] | None
) -> tuple[list[IndexedTask], list[UUID]]:
    """Current state of the named tasks (all the project's when None), and the
    named ids that no longer exist."""
    query = select(t.tasks).where(t.tasks.c.project_id == project.id)
    if task_ids is not None:
        query = query.where(t.tasks.c.id.in_(list(task_ids)))
    found = [task_from_row(r) for r in await conn.execute(query)]
    present = {x.id for x in found}
    gone = [x for x in task_ids or () if x not in present]
    return await _indexed(conn, project, found), gone


async def org_ids(conn: AsyncConnection) -> list[UUID]:
    return list(await conn.scalars(select(t.orgs.c.id).order_by(t.orgs.c.id)))


async def project_versions(conn: AsyncConnection, org_id: UUID) -> dict[UUID, int]:
    p = t.projects.c
    rows = await conn.execute(select(p.id, p.version).where(p.org_id == org_id))
    return {row.id: int(row.version) for row in rows}


async def count_org_tasks(conn: AsyncConnection, org_id: UUID) -> int:
    live = select(t.projects.c.id).where(
        t.projects.c.org_id == org_id, t.projects.c.deleted_at.is_(None)
    )
    n = await conn.scalar(
        select(func.count()).where(t.tasks.c.org_id == org_id, t.tasks.c.project_id.in_(live))
    )
    return int(n or 0)


async def iter_org(
    engine: AsyncEngine, org_id: UUID, *, batch: int = 500
) -> AsyncIterator[tuple[dict[UUID, int], list[IndexedTask]]]:
    """An organisation's live tasks in batches, read in one snapshot (REPEATABLE
    READ), each batch with the project versions that snapshot reflects (the first
    batch is empty, so an organisation without tasks still reports them)."""
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            versions = await project_versions(conn, org_id)
            yield versions, []
            for project in await catalog.list_projects(conn, org_id=org_id):
                after: UUID | None = None
                while True:
                    query = select(t.tasks).where(t.tasks.c.project_id == project.id)
                    if after is not None:
                        query = query.where(t.tasks.c.id > after)
                    rows = await conn.execute(query.order_by(t.tasks.c.id).limit(batch))
                    tasks = [task_from_row(r) for r in rows]
                    if not tasks:
                        break
                    after = tasks[-1].id
                    yield versions, await _indexed(conn, project, tasks)
