"""Epics and subtasks: the `parent_id` tree of a project's tasks, and progress.

The tree must stay a forest inside one project: a parent exists in the same
project and a task never becomes its own ancestor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.errors import InvalidInput
from domain.tasks import Task

MAX_DEPTH = 10


def check_parent(task_id: UUID, parent_id: UUID | None, tasks: Mapping[UUID, Task]) -> None:
    """Raise `InvalidInput` unless `parent_id` may become the parent of `task_id`.

    `tasks` are the project's tasks (the parent must be one of them).
    """
    if parent_id is None:
        return
    if parent_id == task_id:
        raise InvalidInput.field("parent_id", "a task cannot be its own parent")
    depth = 0
    current: UUID | None = parent_id
    while current is not None:
        parent = tasks.get(current)
        if parent is None:
            raise InvalidInput.field("parent_id", "must be a task of the same project")
        if parent.parent_id == task_id:
            raise InvalidInput.field("parent_id", "would make a cycle of subtasks")
        depth += 1
        if depth >= MAX_DEPTH:
            raise InvalidInput.field("parent_id", f"subtasks nest at most {MAX_DEPTH} deep")
        current = parent.parent_id


def children_of(parent_id: UUID, tasks: Iterable[Task]) -> list[Task]:
    return [t for t in tasks if t.parent_id == parent_id]


def descendants(root: UUID, tasks: Iterable[Task]) -> list[Task]:
    by_parent: dict[UUID, list[Task]] = {}
    for t in tasks:
        if t.parent_id is not None:
            by_parent.setdefault(t.parent_id, []).append(t)
    out: list[Task] = []
    frontier = [root]
    while frontier:
        for child in by_parent.get(frontier.pop(), []):
            out.append(child)
            frontier.append(child.id)
    return out


@dataclass(frozen=True, slots=True)
class Progress:
    total: int
    done: int
    estimate_total: float
    estimate_done: float

    def as_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "done": self.done,
            "estimate_total": self.estimate_total,
            "estimate_done": self.estimate_done,
            "ratio": self.done / self.total if self.total else None,
            "estimate_ratio": (
                self.estimate_done / self.estimate_total if self.estimate_total else None
            ),
        }


def progress(tasks: Iterable[Task], is_done: Callable[[str], bool]) -> Progress:
    """Done/total of `tasks` by count and by estimate (a missing estimate counts 0)."""
    total = done = 0
    est_total = est_done = 0.0
    for t in tasks:
        total += 1
        est_total += t.estimate or 0.0
        if is_done(t.status):
            done += 1
            est_done += t.estimate or 0.0
    return Progress(total, done, est_total, est_done)
