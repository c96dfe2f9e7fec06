"""Persistence of one project's hot state: activation (load + fence) and group commit.

Only a project's grain calls these. `activate` takes a new epoch; `commit` writes a
whole batch in one transaction that first checks the epoch, so a stale grain's
batch fails with `Fenced` and nothing of it lands.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, bindparam, delete, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.audit import audit_rows
from domain.commands import IdempotencyKey, Reply
from domain.custom_fields import definitions_from_json
from domain.events import Event
from domain.projects import Project
from domain.sprints import Sprint, SprintState
from domain.tasks import Priority, Task
from domain.workflow import Workflow, parse_workflow
from domain.workflow_templates import LEGACY_STATUSES, from_status_list
from storage import tables as t
from storage.task_extras import Extras, Refs, load_refs, write_extras
from storage.task_load import load_tasks


class Fenced(Exception):
    """Another activation took the project's epoch: this grain must stop writing."""


class IdempotencyRace(Exception):
    """A concurrent transaction recorded one of the batch's idempotency keys first."""

    def __init__(self, keys: set[tuple[UUID, UUID, str]]) -> None:
        super().__init__(f"{len(keys)} idempotency key(s) taken concurrently")
        self.keys = keys


@dataclass(slots=True)
class Batch:
    """Everything one group commit writes. Built by the grain, written atomically."""

    project: Project
    created: list[Task] = field(default_factory=list)
    updated: list[Task] = field(default_factory=list)
    deleted: list[Task] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    replies: list[tuple[IdempotencyKey, Reply]] = field(default_factory=list)
    sprints: list[Sprint] = field(default_factory=list)
    project_changed: bool = False
    teams_changed: bool = False
    workflow_changed: bool = False
    labels_changed: bool = False
    fields_changed: bool = False
    project_deleted: bool = False
    #: Comment, reaction and attachment rows (`storage.task_extras`).
    extras: Extras = field(default_factory=Extras)


def _task_row(task: Task) -> dict[str, Any]:
    return {
        "project_id": task.project_id,
        "id": task.id,
        "org_id": task.org_id,
        "number": task.number,
        "key": task.key,
        "title": task.title,
        "description": task.description,
        "status": task.status,
        "priority": task.priority.value,
        "assignee_id": task.assignee_id,
        "reporter_id": task.reporter_id,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "version": task.version,
        "rank": task.rank,
        "parent_id": task.parent_id,
        "estimate": task.estimate,
        "due_date": task.due_date,
        "start_date": task.start_date,
        "labels": list(task.labels),
        "watchers": list(task.watchers),
        "sprint_id": task.sprint_id,
        "custom_fields": dict(task.custom_fields),
    }


def task_from_row(row: Any) -> Task:
    return Task(
        id=row.id,
        org_id=row.org_id,
        project_id=row.project_id,
        number=row.number,
        key=row.key,
        title=row.title,
        description=row.description,
        status=row.status,
        priority=Priority(row.priority),
        assignee_id=row.assignee_id,
        reporter_id=row.reporter_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
        rank=row.rank,
        parent_id=row.parent_id,
        estimate=row.estimate,
        due_date=row.due_date,
        start_date=row.start_date,
        labels=tuple(row.labels or ()),
        watchers=tuple(row.watchers or ()),
        sprint_id=row.sprint_id,
        custom_fields=row.custom_fields or {},
    )


_UPDATE_TASK = (
    update(t.tasks)
    .where(t.tasks.c.project_id == bindparam("b_project_id"), t.tasks.c.id == bindparam("b_id"))
    .values(
        title=bindparam("title"),
        description=bindparam("description"),
        status=bindparam("status"),
        priority=bindparam("priority"),
        assignee_id=bindparam("assignee_id"),
        updated_at=bindparam("updated_at"),
        version=bindparam("version"),
        rank=bindparam("rank"),
        parent_id=bindparam("parent_id"),
        estimate=bindparam("estimate"),
        due_date=bindparam("due_date"),
        start_date=bindparam("start_date"),
        labels=bindparam("labels"),
        watchers=bindparam("watchers"),
        sprint_id=bindparam("sprint_id"),
        custom_fields=bindparam("custom_fields"),
    )
)


class ProjectStore:
    """Reads and writes of project grains, over one shared engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def activate(self, project_id: UUID) -> tuple[Project, list[Task], list[Sprint]] | None:
        """Take a new epoch and load the project with its tasks (in number order)
        and its sprints.

        Returns None when the project does not exist or was deleted.
        """
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    update(t.projects)
                    .where(t.projects.c.id == project_id, t.projects.c.deleted_at.is_(None))
                    .values(epoch=t.projects.c.epoch + 1)
                    .returning(*t.projects.c)
                )
            ).one_or_none()
            if row is None:
                return None
            team_ids = (
                await conn.scalars(
                    select(t.project_teams.c.team_id).where(
                        t.project_teams.c.project_id == project_id
                    )
                )
            ).all()
            tasks = await load_tasks(conn, org_id=row.org_id, project_id=project_id)
            sprint_rows = await conn.execute(
                select(t.sprints)
                .where(t.sprints.c.project_id == project_id)
                .order_by(t.sprints.c.created_at)
            )
            sprints = [sprint_from_row(r) for r in sprint_rows]
        return project_from_row(row, team_ids), tasks, sprints

    async def find_replies(
        self, keys: Sequence[IdempotencyKey]
    ) -> dict[tuple[UUID, UUID, str], tuple[str, Reply]]:
        """Stored first responses for these keys: `(org, user, key) → (request_hash, reply)`."""
        if not keys:
            return {}
        c = t.idempotency_keys.c
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(c.org_id, c.user_id, c.key, c.request_hash, c.status_code, c.response).where(
                    tuple_(c.org_id, c.user_id, c.key).in_(
                        [(k.org_id, k.user_id, k.key) for k in keys]
                    )
                )
            )
            return {
                (r.org_id, r.user_id, r.key): (
                    r.request_hash,
                    Reply(status=r.status_code, body=r.response, replayed=True),
                )
                for r in rows
            }

    async def load_refs(
        self, project_id: UUID, comment_ids: set[UUID], attachment_ids: set[UUID]
    ) -> Refs:
        """The live comments and attachments a batch's commands name (see `task_extras`)."""
        return await load_refs(self.engine, project_id, comment_ids, attachment_ids)

    async def commit(self, batch: Batch, *, epoch: int) -> None:
        """Write the batch atomically, conditional on `epoch`.

        Raises `Fenced` if the epoch moved on, `IdempotencyRace` if another
        transaction recorded one of the batch's keys first; nothing is written then.
        """
        async with self.engine.begin() as conn:
            await self._write_project(conn, batch, epoch=epoch)
            await self._write_replies(conn, batch.replies)
            await self._write_tasks(conn, batch)
            await self._write_sprints(conn, batch.sprints)
            if batch.extras or batch.project_deleted:
                await write_extras(
                    conn,
                    batch.extras,
                    project_id=batch.project.id,
                    project_deleted=batch.project_deleted,
                    now=batch.events[-1].created_at if batch.events else datetime.now(UTC),
                )
            if batch.events:
                await conn.execute(
                    insert(t.events),
                    [
                        {
                            "project_id": e.project_id,
                            "version": e.version,
                            "org_id": batch.project.org_id,
                            "type": e.type.value,
                            "actor_id": e.actor_id,
                            "task_id": e.task_id,
                            "payload": e.payload,
                            "created_at": e.created_at,
                            "request_id": e.request_id,
                        }
                        for e in batch.events
                    ],
                )
                audit = audit_rows(batch.project.org_id, batch.events)
                if audit:
                    await conn.execute(insert(t.audit_log), audit)

    async def _write_project(self, conn: AsyncConnection, batch: Batch, *, epoch: int) -> None:
        p = batch.project
        values: dict[str, Any] = {"version": p.version, "task_seq": p.task_seq}
        if batch.project_changed:
            values.update(
                name=p.name,
                description=p.description,
                settings=dict(p.settings),
                time_zone=p.time_zone,
            )
        # With settings, since a pre-workflow project's statuses moved out of them.
        if batch.workflow_changed or batch.project_changed:
            values["workflow"] = p.workflow.as_json()
        if batch.fields_changed:
            values["custom_fields"] = [f.as_json() for f in p.fields]
        if batch.labels_changed:
            values["labels"] = p.labels_json()
        if batch.project_deleted:
            values["deleted_at"] = batch.events[-1].created_at
        result = await conn.execute(
            update(t.projects)
            .where(t.projects.c.id == p.id, t.projects.c.epoch == epoch)
            .values(**values)
        )
        if result.rowcount != 1:
            raise Fenced(f"project {p.id} is no longer owned by epoch {epoch}")
        if batch.teams_changed:
            # Teams that stay keep the project role they were given (0008).
            await conn.execute(
                delete(t.project_teams).where(
                    t.project_teams.c.project_id == p.id,
                    t.project_teams.c.team_id.not_in(list(p.team_ids)),
                )
            )
            if p.team_ids:
                await conn.execute(
                    pg_insert(t.project_teams).on_conflict_do_nothing(),
                    [
                        {"org_id": p.org_id, "project_id": p.id, "team_id": tid}
                        for tid in p.team_ids
                    ],
                )

    async def _write_replies(
        self, conn: AsyncConnection, replies: list[tuple[IdempotencyKey, Reply]]
    ) -> None:
        if not replies:
            return
        c = t.idempotency_keys.c
        stmt = (
            pg_insert(t.idempotency_keys)
            .on_conflict_do_nothing()
            .returning(c.org_id, c.user_id, c.key)
        )
        written = await conn.execute(
            stmt,
            [
                {
                    "org_id": k.org_id,
                    "user_id": k.user_id,
                    "key": k.key,
                    "request_hash": k.request_hash,
                    "status_code": r.status,
                    "response": r.body,
                }
                for k, r in replies
            ],
        )
        wanted = {(k.org_id, k.user_id, k.key) for k, _ in replies}
        taken = wanted - {(r.org_id, r.user_id, r.key) for r in written}
        if taken:
            raise IdempotencyRace(taken)

    async def _write_sprints(self, conn: AsyncConnection, sprints: list[Sprint]) -> None:
        if not sprints:
            return
        stmt = pg_insert(t.sprints)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.sprints.c.id],
            set_={
                c: stmt.excluded[c]
                for c in (
                    "name",
                    "goal",
                    "start_date",
                    "end_date",
                    "state",
                    "started_at",
                    "completed_at",
                )
            },
        )
        await conn.execute(stmt, [_sprint_row(s) for s in sprints])

    async def _write_tasks(self, conn: AsyncConnection, batch: Batch) -> None:
        if batch.created:
            await conn.execute(insert(t.tasks), [_task_row(x) for x in batch.created])
            await conn.execute(
                insert(t.task_lookup),
                [
                    {"id": x.id, "org_id": x.org_id, "project_id": x.project_id, "key": x.key}
                    for x in batch.created
                ],
            )
        if batch.updated:
            rows = []
            for x in batch.updated:
                row = _task_row(x)
                row["b_project_id"] = row.pop("project_id")
                row["b_id"] = row.pop("id")
                rows.append(row)
            await conn.execute(_UPDATE_TASK, rows)
        if batch.deleted:
            ids = [x.id for x in batch.deleted]
            pid = batch.project.id
            await conn.execute(
                delete(t.tasks).where(and_(t.tasks.c.project_id == pid, t.tasks.c.id.in_(ids)))
            )
            await conn.execute(delete(t.task_lookup).where(t.task_lookup.c.id.in_(ids)))


def _sprint_row(sprint: Sprint) -> dict[str, Any]:
    return {
        "id": sprint.id,
        "org_id": sprint.org_id,
        "project_id": sprint.project_id,
        "name": sprint.name,
        "goal": sprint.goal,
        "start_date": sprint.start_date,
        "end_date": sprint.end_date,
        "state": sprint.state.value,
        "created_at": sprint.created_at,
        "started_at": sprint.started_at,
        "completed_at": sprint.completed_at,
    }


def sprint_from_row(row: Any) -> Sprint:
    return Sprint(
        id=row.id,
        org_id=row.org_id,
        project_id=row.project_id,
        name=row.name,
        goal=row.goal,
        start_date=row.start_date,
        end_date=row.end_date,
        state=SprintState(row.state),
        created_at=row.created_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
    )


def workflow_of(row: Any) -> Workflow:
    """The workflow of a project row (its `workflow` and `settings` columns). A
    project stored before workflows existed (`workflow` NULL) gets one built from
    its old `settings.statuses` list."""
    if row.workflow is not None:
        return parse_workflow(row.workflow, version=int(row.workflow.get("version", 1)))
    return from_status_list((row.settings or {}).get("statuses") or LEGACY_STATUSES)


def project_from_row(row: Any, team_ids: Iterable[UUID]) -> Project:
    """A project from its row (the workflow as `workflow_of` reads it)."""
    settings = dict(row.settings or {})
    workflow = workflow_of(row)
    if row.workflow is None:
        settings.pop("statuses", None)
    return Project(
        id=row.id,
        org_id=row.org_id,
        key=row.key,
        name=row.name,
        description=row.description,
        owner_id=row.owner_id,
        team_ids=tuple(team_ids),
        settings=settings,
        created_at=row.created_at,
        version=row.version,
        epoch=row.epoch,
        task_seq=row.task_seq,
        workflow=workflow,
        labels={x["name"]: x["color"] for x in (row.labels or [])},
        time_zone=row.time_zone,
        fields=definitions_from_json(row.custom_fields),
    )
