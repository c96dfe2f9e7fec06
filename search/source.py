"""Reading what the index holds from PostgreSQL, the state of record.

The consumer reads the tasks its events name; a rebuild reads whole
organisations in keyset-ordered batches. Either way the index gets a task's
*current* state, which is what makes applying an event twice harmless.
Functions take an open connection and never commit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.projects import Project
from domain.tasks import Task
from search.schema import IndexedTask
from storage import catalog, task_load
from storage import tables as t
from storage.db import transaction_driver
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
    types = {f.id: f.type.value for f in project.fields}
    return [
        _indexed_task(
            project, task, tuple(comments.get(task.id, ())), attachments.get(task.id, 0), types
        )
        for task in tasks
    ]


def _indexed_task(
    project: Project,
    task: Task,
    comments: tuple[str, ...],
    attachments: int,
    field_types: dict[str, str],
) -> IndexedTask:
    category = project.workflow.category_of(task.status)
    return IndexedTask(
        task=task.as_json(),
        org_id=str(task.org_id),
        category=category.value if category else "todo",
        attachments=attachments,
        comments=comments,
        field_types=field_types,
    )


async def live_project(
    conn: AsyncConnection, project_id: UUID, org_id: UUID | None = None
) -> Project | None:
    """The project unless it is gone (deleted, or never existed). `org_id`, when
    the caller knows it (an event carries it; a project never changes
    organisation), saves looking it up."""
    if org_id is None:
        org_id = await conn.scalar(select(t.projects.c.org_id).where(t.projects.c.id == project_id))
        if org_id is None:
            return None
    return await catalog.get_project(conn, org_id=org_id, project_id=project_id)


# Tasks with their live comments' bodies (oldest first) and live attachment count,
# in one statement: the consumer runs it for every pass over a set of projects, on
# the relay transaction's asyncpg connection (no SQLAlchemy result processing).
_EXTRA_COLUMNS = """,
    (SELECT array_agg(c.body ORDER BY c.created_at) FROM comments c
     WHERE c.task_id = tasks.id AND c.deleted_at IS NULL) AS comment_bodies,
    (SELECT count(*) FROM attachments a
     WHERE a.task_id = tasks.id AND a.deleted_at IS NULL) AS attachment_count"""
_QUALIFIED = ", ".join(f"tasks.{c.strip()}" for c in task_load.COLUMNS.split(","))
_ALL_TASKS = (
    f"SELECT {_QUALIFIED}{_EXTRA_COLUMNS}, tasks.project_id FROM tasks WHERE tasks.project_id = $1"  # noqa: S608 - constant
)
# Named tasks of several projects. A lateral lookup per pair, kept from being
# flattened into a join (LIMIT): a plain join of the pairs with `tasks` is
# planned as a hash join over every partition; this is an index probe each, in
# the partition found at run time.
_NAMED_TASKS = (
    "SELECT found.* FROM unnest($1::uuid[], $2::uuid[]) AS wanted(project_id, id)"  # noqa: S608 - constant
    f" CROSS JOIN LATERAL (SELECT {_QUALIFIED}{_EXTRA_COLUMNS}, tasks.project_id"
    " FROM tasks WHERE tasks.project_id = wanted.project_id AND tasks.id = wanted.id"
    " LIMIT 1) AS found"
)
_EXTRAS = len(task_load.COLUMNS.split(","))  # where comment_bodies sits in a record

#: Per project: its current indexed tasks, and the named ids that no longer exist.
Loaded = tuple[list[IndexedTask], list[UUID]]


async def load_tasks(
    conn: AsyncConnection, project: Project, task_ids: Sequence[UUID] | None
) -> Loaded:
    """Current state of the named tasks (all the project's when None), and the
    named ids that no longer exist. One query, whatever the number of tasks.
    `conn`'s transaction must have begun (`storage.db.transaction_driver`)."""
    if task_ids is not None:
        return (await load_named_tasks(conn, {project.id: (project, task_ids)}))[project.id]
    rows = await (await transaction_driver(conn)).fetch(_ALL_TASKS, project.id)
    return _loaded({project.id: (project, None)}, rows)[project.id]


async def load_named_tasks(
    conn: AsyncConnection, wanted: Mapping[UUID, tuple[Project, Sequence[UUID]]]
) -> dict[UUID, Loaded]:
    """`load_tasks` of several projects' named tasks (project id → the project and
    its task ids), in one statement."""
    pairs = [(pid, task_id) for pid, (_, ids) in wanted.items() for task_id in ids]
    rows = await (await transaction_driver(conn)).fetch(
        _NAMED_TASKS, [p for p, _ in pairs], [x for _, x in pairs]
    )
    return _loaded(wanted, rows)


def _loaded(
    wanted: Mapping[UUID, tuple[Project, Sequence[UUID] | None]], rows: Sequence[Any]
) -> dict[UUID, Loaded]:
    types = {pid: {f.id: f.type.value for f in p.fields} for pid, (p, _) in wanted.items()}
    found: dict[UUID, list[IndexedTask]] = {pid: [] for pid in wanted}
    present: set[UUID] = set()
    for row in rows:
        pid = row[_EXTRAS + 2]
        project = wanted[pid][0]
        task = task_load.task_from_record(row, project.org_id, pid)
        present.add(task.id)
        found[pid].append(
            _indexed_task(
                project, task, tuple(row[_EXTRAS] or ()), int(row[_EXTRAS + 1]), types[pid]
            )
        )
    return {
        pid: (found[pid], [x for x in ids or () if x not in present])
        for pid, (_, ids) in wanted.items()
    }


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
