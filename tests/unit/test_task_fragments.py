"""The grain's encoded task reads: the same JSON as the dict reads, never stale."""

from __future__ import annotations

import asyncio
import tracemalloc
from datetime import date
from typing import Any, cast
from uuid import UUID, uuid4

import orjson
import pytest

from actors.grain import ProjectGrain, TaskQuery, _Pending, _Stage
from actors.task_json import TaskFragments
from actors.views import board, board_json, in_board_order
from domain.commands import Command, CreateTask, DeleteTask, MoveTask, UpdateTask
from domain.errors import NotFound
from domain.events import Event
from domain.projects import Project
from domain.tasks import Priority, Task
from storage.project_store import ProjectStore
from tests.unit.factories import make_project, make_task

ACTOR = uuid4()


def _tasks(project: Project) -> list[Task]:
    statuses = project.statuses
    out = []
    for n in range(1, 13):
        out.append(
            make_task(
                project,
                number=n,
                title=f"Tâche {n} « naïve » \u2603",
                status=statuses[n % len(statuses)],
                priority=list(Priority)[n % 5],
                assignee_id=ACTOR if n % 3 == 0 else None,
                rank=f"m{(17 * n) % 13:02d}",
                estimate=n / 3 if n % 2 else None,
                due_date=date(2024, 5, n),
                labels=("bug", "ui") if n % 4 == 0 else (),
                watchers=(ACTOR,) if n % 5 == 0 else (),
                custom_fields={"f1": n, "f2": [1.5, None, "x"]} if n % 6 == 0 else {},
            )
        )
    return out


QUERIES = [
    TaskQuery(),
    TaskQuery(status="open"),
    TaskQuery(status="done"),
    TaskQuery(assignee_id=ACTOR),
    TaskQuery(unassigned=True),
    TaskQuery(priority="high"),
    TaskQuery(label="bug"),
    TaskQuery(status="no-such-status"),
]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("per_column", [1, 2, 50])
def test_board_json_is_the_encoded_board(query: TaskQuery, per_column: int) -> None:
    project = make_project()
    tasks = _tasks(project)
    expected = orjson.dumps(board(project.workflow, tasks, query, per_column=per_column))
    got = board_json(
        project.workflow,
        in_board_order(tasks),
        query,
        per_column=per_column,
        fragments=TaskFragments(),
    )
    assert got == expected
    assert orjson.loads(got)["columns"]  # and it is a document


def test_fragments_array_is_the_encoded_list() -> None:
    tasks = _tasks(make_project())
    fragments = TaskFragments()
    assert fragments.array([]) == b"[]"
    assert fragments.array(tasks) == orjson.dumps([t.as_json() for t in tasks])
    assert len(fragments) == len(tasks)
    assert fragments.array(tasks[:3]) == orjson.dumps([t.as_json() for t in tasks[:3]])


async def _no_publish(project: Project, events: list[Event]) -> None:
    return None


def _grain() -> ProjectGrain:
    project = make_project(task_seq=12)
    # No store: these tests apply batches the way `_commit` does after committing.
    return ProjectGrain(project, _tasks(project), cast(ProjectStore, None), _no_publish)


def _commit(grain: ProjectGrain, *commands: Command) -> list[Any]:
    """Decide the commands as one batch and apply it, as a successful commit would."""
    staged = _Stage(grain.project, grain.tasks, grain.sprints)
    loop = asyncio.get_running_loop()
    outcomes = [staged.decide(_Pending(c, None, loop.create_future()), {}) for c in commands]
    grain._apply(staged)
    return outcomes


def _fresh(grain: ProjectGrain) -> dict[str, Any]:
    """What the reads must answer: encoded from the current hot state, no cache."""
    tasks = list(grain.tasks.values())
    page, _ = grain.list_tasks(TaskQuery(limit=200))
    return {
        "tasks": {t.id: (t.version, orjson.dumps(t.as_json())) for t in tasks},
        "list": orjson.dumps([t.as_json() for t in page]),
        "board": orjson.dumps(board(grain.project.workflow, tasks, TaskQuery(), per_column=50)),
    }


def _read_all(grain: ProjectGrain) -> dict[str, Any]:
    return {
        "tasks": {tid: grain.task_json(tid) for tid in grain.tasks},
        "list": grain.list_tasks_json(TaskQuery(limit=200))[0],
        "board": grain.board_json(TaskQuery(), 50),
    }


async def test_reads_follow_updates_moves_creates_and_deletes() -> None:
    grain = _grain()
    assert _read_all(grain) == _fresh(grain)  # fills the caches
    first, second, third = list(grain.tasks)[:3]
    done = grain.project.statuses[-1]

    _commit(grain, UpdateTask(ACTOR, first, {"title": "renamed", "estimate": 2.5}))
    assert grain.task_json(first)[0] == 2
    assert orjson.loads(grain.task_json(first)[1])["title"] == "renamed"
    assert _read_all(grain) == _fresh(grain)

    _commit(grain, MoveTask(ACTOR, second, status=done), MoveTask(ACTOR, third, before_id=second))
    assert _read_all(grain) == _fresh(grain)

    (reply,) = _commit(grain, CreateTask(ACTOR, {"title": "new one", "status": done}))
    assert orjson.loads(grain.task_json(UUID(reply.body["id"]))[1]) == reply.body
    assert _read_all(grain) == _fresh(grain)

    _commit(grain, DeleteTask(ACTOR, first))
    with pytest.raises(NotFound):
        grain.task_json(first)
    assert _read_all(grain) == _fresh(grain)


async def test_a_failed_command_changes_no_read() -> None:
    grain = _grain()
    before = _read_all(grain)
    task_id = next(iter(grain.tasks))
    (outcome,) = _commit(grain, UpdateTask(ACTOR, task_id, {"title": "x"}, if_match=99))
    assert isinstance(outcome, Exception)
    assert _read_all(grain) == before == _fresh(grain)


def test_a_kept_fragment_is_about_the_size_of_its_json() -> None:
    """orjson's result keeps its whole write buffer (about 8 KB); a fragment must not."""
    tasks = [make_task(number=n) for n in range(1, 201)]
    fragments = TaskFragments()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        encoded = sum(len(fragments.of(t)) for t in tasks)
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 2 * encoded
