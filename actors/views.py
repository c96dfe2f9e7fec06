"""Read models a grain computes from its hot state: task filters, the board, the
transitions a caller may take, and epic progress. Pure functions of committed
state; the grain calls them, the host turns them into JSON (boards straight into
encoded JSON, from the grain's cached task fragments)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any
from uuid import UUID

import orjson

from actors.task_json import TaskFragments
from domain import hierarchy
from domain import workflow as engine
from domain.tasks import Task
from domain.workflow import Category, Status, Workflow

#: `?status=open`: every status outside the done category.
OPEN = "open"
_BOARD_ORDER = attrgetter("rank", "number")


@dataclass(frozen=True, slots=True)
class TaskQuery:
    """Filters and page of a task list. `after` is the last task number already seen.

    `status` is a status id, a category (`todo`, `in_progress`, `done`) or `open`
    (not done); an id wins over a category of the same name.
    """

    status: str | None = None
    assignee_id: UUID | None = None
    unassigned: bool = False
    priority: str | None = None
    after: int = 0
    limit: int = 50
    label: str | None = None
    sprint_id: UUID | None = None
    parent_id: UUID | None = None
    #: Only these tasks (the ones a filter-language query matched), when given.
    ids: frozenset[UUID] | None = None


def statuses_matching(workflow: Workflow, status: str) -> frozenset[str]:
    """The status ids `?status=` selects (empty when it names nothing)."""
    if workflow.status(status) is not None:
        return frozenset({status})
    if status in {c.value for c in Category}:
        return workflow.in_category(status)
    if status == OPEN:
        return frozenset(s.id for s in workflow.statuses if s.category is not Category.DONE)
    return frozenset()


def _accept_all(task: Task) -> bool:
    return True


def matches(query: TaskQuery, workflow: Workflow) -> Callable[[Task], bool]:
    if query == TaskQuery(after=query.after, limit=query.limit):
        return _accept_all  # no filter: the common board and list
    wanted = None if query.status is None else statuses_matching(workflow, query.status)

    def accept(task: Task) -> bool:
        return (
            (wanted is None or task.status in wanted)
            and (query.priority is None or task.priority == query.priority)
            and not (query.unassigned and task.assignee_id is not None)
            and (query.assignee_id is None or task.assignee_id == query.assignee_id)
            and (query.label is None or query.label in task.labels)
            and (query.sprint_id is None or task.sprint_id == query.sprint_id)
            and (query.parent_id is None or task.parent_id == query.parent_id)
            and (query.ids is None or task.id in query.ids)
        )

    return accept


def in_board_order(tasks: Iterable[Task]) -> dict[str, list[Task]]:
    """Tasks grouped by status, each group in the board's order: rank, then number."""
    columns: dict[str, list[Task]] = {}
    for task in sorted(tasks, key=_BOARD_ORDER):
        columns.setdefault(task.status, []).append(task)
    return columns


def board_columns(
    workflow: Workflow,
    ranked: Mapping[str, Sequence[Task]],
    query: TaskQuery,
    *,
    per_column: int,
) -> list[tuple[Status, list[Task], int]]:
    """Per status in workflow order: its first `per_column` matching cards and the
    count of all of them. `ranked` is `in_board_order` of the tasks."""
    accept = matches(query, workflow)
    out = []
    for status in workflow.statuses:
        column = ranked.get(status.id, ())
        if accept is _accept_all:
            out.append((status, list(column[:per_column]), len(column)))
            continue
        cards: list[Task] = []
        count = 0
        for task in column:
            if accept(task):
                count += 1
                if len(cards) < per_column:
                    cards.append(task)
        out.append((status, cards, count))
    return out


def board(
    workflow: Workflow, tasks: Iterable[Task], query: TaskQuery, *, per_column: int
) -> dict[str, Any]:
    """Columns in workflow order, cards in rank order; `count` is every matching card
    of the column, `tasks` at most `per_column` of them."""
    columns = board_columns(workflow, in_board_order(tasks), query, per_column=per_column)
    return {
        "workflow_version": workflow.version,
        "columns": [
            {"status": status.as_json(), "tasks": [t.as_json() for t in cards], "count": count}
            for status, cards, count in columns
        ],
    }


def board_json(
    workflow: Workflow,
    ranked: Mapping[str, Sequence[Task]],
    query: TaskQuery,
    *,
    per_column: int,
    fragments: TaskFragments,
) -> bytes:
    """`board` encoded, joined from the grain's task fragments (`actors.task_json`).
    `ranked` is `in_board_order` of the tasks."""
    columns = board_columns(workflow, ranked, query, per_column=per_column)
    parts = [b'{"workflow_version":', orjson.dumps(workflow.version), b',"columns":[']
    for index, (status, cards, count) in enumerate(columns):
        parts += [
            b',{"status":' if index else b'{"status":',
            orjson.dumps(status.as_json()),
            b',"tasks":',
            fragments.array(cards),
            b',"count":',
            orjson.dumps(count),
            b"}",
        ]
    parts.append(b"]}")
    return b"".join(parts)


def transitions_for(
    workflow: Workflow, task: Task, tasks: Mapping[UUID, Task], role: str
) -> dict[str, Any]:
    """Every transition leaving the task's status, and whether the caller may take it."""
    children = hierarchy.children_of(task.id, tasks.values())
    facts = engine.TransitionFacts(
        role=role,
        assignee_set=task.assignee_id is not None,
        estimate_set=task.estimate is not None,
        subtasks_done=all(workflow.is_done(c.status) for c in children),
    )
    items = []
    for t in engine.transitions_from(workflow, task.status):
        target = workflow.status(t.target)
        assert target is not None
        reasons = engine.blockers(t, facts)
        items.append(
            {
                **t.as_json(),
                "to_status": target.as_json(),
                "allowed": not reasons,
                "blockers": reasons,
            }
        )
    return {
        "task_id": str(task.id),
        "status": task.status,
        "transitions": [i for i in items if i["allowed"]],
        "unavailable": [i for i in items if not i["allowed"]],
    }


def progress_of(workflow: Workflow, task: Task, tasks: Mapping[UUID, Task]) -> dict[str, Any]:
    """An epic's progress over all its descendants (subtasks of subtasks included)."""
    below = hierarchy.descendants(task.id, tasks.values())
    children = [t for t in below if t.parent_id == task.id]
    return {
        "task_id": str(task.id),
        "children": [str(t.id) for t in sorted(children, key=lambda t: t.number)],
        **hierarchy.progress(below, workflow.is_done).as_json(),
    }
