"""Loading a project's tasks when its grain activates: lean in time and in memory.

A grain activates on the first request for a passivated project, which waits for
it, so the load of 10,000 rows is on a request's path. Through SQLAlchemy's
result processing every row paid the JSON decoder of `custom_fields` (almost
always `{}`) and an element processor per array, and each task then held its own
copies of values that nearly all tasks share: the organisation and project ids,
the few people who report and are assigned, the statuses. So the rows are
fetched with asyncpg directly (on the caller's connection, inside its
transaction), `custom_fields` as text decoded by orjson only when not empty, and
repeated values are shared among the tasks of the load.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.tasks import Priority, Task

COLUMNS = (
    "id, number, key, title, description, status, priority, assignee_id,"
    " reporter_id, created_at, updated_at, version, rank, parent_id, estimate, due_date,"
    " start_date, labels, watchers, sprint_id, custom_fields::text"
)
# Both statements are built from constants only. Pruned to the project's partition;
# `tasks_project_number_key` serves the order.
_LOAD = f"SELECT {COLUMNS} FROM tasks WHERE project_id = $1 ORDER BY number"  # noqa: S608
#: One task, if its project is live and the organisation's.
_LOAD_ONE = (
    f"SELECT {COLUMNS} FROM tasks WHERE project_id = $1 AND id = $2"  # noqa: S608
    " AND EXISTS (SELECT 1 FROM projects p"
    " WHERE p.id = $1 AND p.org_id = $3 AND p.deleted_at IS NULL)"
)
_PRIORITIES = {p.value: p for p in Priority}


def _object(text: str) -> dict[str, Any]:
    try:
        value: dict[str, Any] = orjson.loads(text)
    except orjson.JSONDecodeError:  # e.g. an integer beyond 64 bits, which orjson refuses
        value = json.loads(text)
    return value


async def load_tasks(conn: AsyncConnection, *, org_id: UUID, project_id: UUID) -> list[Task]:
    """The project's tasks in number order, read on `conn` (in its transaction)."""
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    rows = await driver.fetch(_LOAD, project_id)
    shared: dict[Any, Any] = {}

    def one(value: Any) -> Any:
        """The first equal value seen in this load (ids, statuses, labels)."""
        if value is None:
            return None
        return shared.setdefault(value, value)

    def many(values: list[Any] | None) -> tuple[Any, ...]:
        return tuple(map(one, values)) if values else ()

    return [_task(r, org_id, project_id, one, many) for r in rows]


def _task(
    r: Any,
    org_id: UUID,
    project_id: UUID,
    one: Callable[[Any], Any],
    many: Callable[[list[Any] | None], tuple[Any, ...]],
) -> Task:
    fields = r[20]
    return Task(
        id=r[0],
        org_id=org_id,
        project_id=project_id,
        number=r[1],
        key=r[2],
        title=r[3],
        description=r[4],
        status=one(r[5]),
        priority=_PRIORITIES[r[6]],
        assignee_id=one(r[7]),
        reporter_id=one(r[8]),
        created_at=r[9],
        updated_at=r[10],
        version=r[11],
        rank=r[12],
        parent_id=r[13],
        estimate=r[14],
        due_date=r[15],
        start_date=r[16],
        labels=many(r[17]),
        watchers=many(r[18]),
        sprint_id=one(r[19]),
        custom_fields={} if fields == "{}" else _object(fields),
    )


def _same(value: Any) -> Any:
    return value


def _tuple(values: list[Any] | None) -> tuple[Any, ...]:
    return tuple(values) if values else ()


def task_from_record(r: Any, org_id: UUID, project_id: UUID) -> Task:
    """A task from a record whose first columns are `COLUMNS`, in that order."""
    return _task(r, org_id, project_id, _same, _tuple)


async def load_task(
    conn: AsyncConnection, *, org_id: UUID, project_id: UUID, task_id: UUID
) -> Task | None:
    """One task of a live project of `org_id`, read on `conn` (None: not there)."""
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    row = await driver.fetchrow(_LOAD_ONE, project_id, task_id, org_id)
    if row is None:
        return None
    return task_from_record(row, org_id, project_id)
