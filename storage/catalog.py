"""Cross-project reads and project creation: what no single grain can answer.

Functions take an open connection and never commit.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy import and_, bindparam, false, func, insert, or_, select
from sqlalchemy.dialects.postgresql import array_agg
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.projects import Project
from domain.tasks import Task
from storage import tables as t
from storage.project_store import project_from_row, task_from_row

_TEAM_IDS = (
    select(func.coalesce(array_agg(t.project_teams.c.team_id), []))  # type: ignore[no-untyped-call]
    .where(t.project_teams.c.project_id == t.projects.c.id)
    .scalar_subquery()
    .label("team_ids")
)


async def list_projects(conn: AsyncConnection, *, org_id: UUID) -> list[Project]:
    rows = await conn.execute(
        select(t.projects, _TEAM_IDS)
        .where(t.projects.c.org_id == org_id, t.projects.c.deleted_at.is_(None))
        .order_by(t.projects.c.created_at, t.projects.c.id)
    )
    return [project_from_row(r, r.team_ids) for r in rows]


# Built once: the search consumer reads a project for every project it passes over.
_GET_PROJECT = select(t.projects, _TEAM_IDS).where(
    t.projects.c.id == bindparam("b_project_id"),
    t.projects.c.org_id == bindparam("b_org_id"),
    t.projects.c.deleted_at.is_(None),
)


async def get_project(conn: AsyncConnection, *, org_id: UUID, project_id: UUID) -> Project | None:
    row = (
        await conn.execute(_GET_PROJECT, {"b_project_id": project_id, "b_org_id": org_id})
    ).one_or_none()
    return None if row is None else project_from_row(row, row.team_ids)


async def key_taken(conn: AsyncConnection, *, org_id: UUID, key: str) -> bool:
    found = await conn.scalar(
        select(t.projects.c.id).where(
            t.projects.c.org_id == org_id,
            t.projects.c.key == key,
            t.projects.c.deleted_at.is_(None),
        )
    )
    return found is not None


async def insert_project(conn: AsyncConnection, project: Project) -> Project:
    """Insert a new project; raises IntegrityError when its key is taken in the org."""
    row = (
        await conn.execute(
            insert(t.projects)
            .values(
                id=project.id,
                org_id=project.org_id,
                key=project.key,
                name=project.name,
                description=project.description,
                owner_id=project.owner_id,
                settings=dict(project.settings),
                workflow=project.workflow.as_json(),
                labels=project.labels_json(),
                time_zone=project.time_zone,
            )
            .returning(*t.projects.c)
        )
    ).one()
    if project.team_ids:
        await conn.execute(
            insert(t.project_teams),
            [
                {"org_id": project.org_id, "project_id": project.id, "team_id": x}
                for x in project.team_ids
            ],
        )
    return project_from_row(row, project.team_ids)


async def existing_teams(
    conn: AsyncConnection, *, org_id: UUID, team_ids: Sequence[UUID]
) -> set[UUID]:
    if not team_ids:
        return set()
    rows = await conn.scalars(
        select(t.teams.c.id).where(t.teams.c.org_id == org_id, t.teams.c.id.in_(list(team_ids)))
    )
    return set(rows)


async def is_org_member(conn: AsyncConnection, *, org_id: UUID, user_id: UUID) -> bool:
    return await member_role(conn, org_id=org_id, user_id=user_id) is not None


async def member_role(conn: AsyncConnection, *, org_id: UUID, user_id: UUID) -> str | None:
    """The user's role in the organisation, or None when not a member."""
    role: str | None = await conn.scalar(
        select(t.org_members.c.role).where(
            t.org_members.c.org_id == org_id, t.org_members.c.user_id == user_id
        )
    )
    return role


async def count_org_members(
    conn: AsyncConnection, *, org_id: UUID, user_ids: Sequence[UUID]
) -> int:
    if not user_ids:
        return 0
    found = await conn.scalar(
        select(func.count()).where(
            t.org_members.c.org_id == org_id, t.org_members.c.user_id.in_(list(user_ids))
        )
    )
    return int(found or 0)


_TASK_BY_KEY = "SELECT project_id, id FROM task_lookup WHERE org_id = $1 AND key = $2"


async def resolve_task_key(
    conn: asyncpg.Connection, *, org_id: UUID, key: str
) -> tuple[UUID, UUID] | None:
    """`(project_id, task_id)` of the task of `org_id` with the human key `key`
    (`PRJ-12`), or None. Task ids go through `projects_of_tasks`, many at once.

    On the driver's connection (`storage.db.driver_connection`).
    """
    row = await conn.fetchrow(_TASK_BY_KEY, org_id, key)
    return None if row is None else (row[0], row[1])


_TASKS_BY_IDS = "SELECT id, project_id FROM task_lookup WHERE org_id = $1 AND id = ANY($2::uuid[])"


async def projects_of_tasks(
    conn: asyncpg.Connection, *, org_id: UUID, task_ids: Sequence[UUID]
) -> dict[UUID, UUID]:
    """task id → project id for those of `task_ids` that are tasks of `org_id`.

    On the driver's connection, like `resolve_task_key`: one statement for the ids
    many requests missed at once (`serve_app.task_refs.RefResolver`).
    """
    rows = await conn.fetch(_TASKS_BY_IDS, org_id, list(task_ids))
    return {row[0]: row[1] for row in rows}


_PROJECT_TASK_IDS = "SELECT id FROM tasks WHERE project_id = $1 LIMIT $2"


async def task_ids_of_project(
    conn: asyncpg.Connection, *, project_id: UUID, limit: int
) -> list[UUID]:
    """Ids of up to `limit` of the project's tasks (an index scan of its primary
    key, in one partition): what a replica's reference cache reads ahead."""
    return [row[0] for row in await conn.fetch(_PROJECT_TASK_IDS, project_id, limit)]


async def list_org_tasks(
    conn: AsyncConnection,
    *,
    org_id: UUID,
    filters: dict[str, Any],
    after: tuple[datetime, UUID] | None,
    limit: int,
    statuses: Mapping[UUID, Collection[str]] | None = None,
    project_ids: Collection[UUID] | None = None,
) -> list[Task]:
    """Tasks across the organisation's live projects in `(created_at, id)` order,
    only of `project_ids` when given (the projects the caller may read).

    `statuses`, when given, keeps per project only tasks in the listed status ids
    (a status category or `open` means different ids in different workflows).
    """
    live = select(t.projects.c.id).where(
        t.projects.c.org_id == org_id, t.projects.c.deleted_at.is_(None)
    )
    query = select(t.tasks).where(t.tasks.c.org_id == org_id, t.tasks.c.project_id.in_(live))
    if project_ids is not None:
        query = query.where(t.tasks.c.project_id.in_(list(project_ids)))
    if statuses is not None:
        query = query.where(
            or_(
                false(),
                *(
                    and_(t.tasks.c.project_id == pid, t.tasks.c.status.in_(list(ids)))
                    for pid, ids in statuses.items()
                    if ids
                ),
            )
        )
    for name, value in filters.items():
        if name == "labels":  # one label the task carries
            query = query.where(t.tasks.c.labels.any(value))
            continue
        query = query.where(
            t.tasks.c[name].is_(None) if value is None else t.tasks.c[name] == value
        )
    if after is not None:
        created, task_id = after
        query = query.where(
            or_(
                t.tasks.c.created_at > created,
                and_(t.tasks.c.created_at == created, t.tasks.c.id > task_id),
            )
        )
    rows = await conn.execute(query.order_by(t.tasks.c.created_at, t.tasks.c.id).limit(limit + 1))
    return [task_from_row(r) for r in rows]
