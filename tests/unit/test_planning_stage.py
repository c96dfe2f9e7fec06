"""Board moves, WIP limits, subtasks, labels, sprints, bulk edits and rebalancing as
the grain's stage decides them (no storage)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, cast
from uuid import UUID, uuid4

import pytest

from actors.stage import _Pending, _Stage
from domain.commands import (
    BulkUpdate,
    Command,
    CompleteSprint,
    CreateSprint,
    CreateTask,
    DeleteTask,
    MoveTask,
    RebalanceRanks,
    Reply,
    SetLabels,
    SprintScope,
    StartSprint,
    UpdateTask,
)
from domain.errors import Conflict, DomainError, InvalidInput, TransitionForbidden, WipLimitExceeded
from domain.projects import Project
from domain.ranks import between
from domain.tasks import Task
from domain.workflow import parse_workflow
from domain.workflow_templates import template
from tests.unit.factories import make_project, make_task

ACTOR = uuid4()


def _pending(command: Command) -> _Pending:
    """A command for `decide`, which never resolves the submitter's future (none here)."""
    return _Pending(command, None, cast("asyncio.Future[Reply]", None))


class Board:
    """A project with `n` cards in `backlog`, ranked in number order; commands are
    decided in one stage after another (each as its own committed batch)."""

    def __init__(self, n: int = 4, **project: Any) -> None:
        self.project: Project = make_project(task_seq=n, **project)
        self.tasks: dict[UUID, Task] = {}
        self.sprints: dict[UUID, Any] = {}
        rank = None
        for number in range(1, n + 1):
            rank = between(rank, None)
            task = make_task(self.project, number=number, rank=rank)
            self.tasks[task.id] = task
        self.ids = list(self.tasks)
        self.events: list[str] = []

    def run(self, command: Command) -> Reply | DomainError:
        stage = _Stage(self.project, self.tasks, self.sprints)
        outcome = stage.decide(_pending(command), {})
        batch = stage.batch
        self.project = batch.project
        for task in batch.created + batch.updated:
            self.tasks[task.id] = task
        for task in batch.deleted:
            del self.tasks[task.id]
        for sprint in batch.sprints:
            self.sprints[sprint.id] = sprint
        self.events += [e.type.value for e in batch.events]
        return outcome

    def ok(self, command: Command) -> dict[str, Any]:
        outcome = self.run(command)
        assert isinstance(outcome, Reply), outcome
        assert outcome.body is not None
        return outcome.body

    def column(self, status: str) -> list[UUID]:
        cards = sorted((t for t in self.tasks.values() if t.status == status), key=lambda t: t.rank)
        return [t.id for t in cards]


def workflow_with(**wip: int) -> Any:
    data = template().as_json()
    for s in data["statuses"]:
        s["wip_limit"] = wip.get(s["id"])
    return parse_workflow(data, version=1)


# -- moves ---------------------------------------------------------------------------


def test_move_within_a_column_writes_one_row() -> None:
    b = Board()
    a, _, c, d = b.ids
    stage = _Stage(b.project, b.tasks)
    stage.decide(_pending(MoveTask(ACTOR, d, before_id=a)), {})
    assert [t.id for t in stage.batch.updated] == [d]
    b.ok(MoveTask(ACTOR, d, before_id=a))
    assert b.column("backlog")[:2] == [d, a]
    b.ok(MoveTask(ACTOR, a, after_id=c))
    assert b.column("backlog") == [d, b.ids[1], c, a]


def test_move_to_another_column_changes_status_and_position_atomically() -> None:
    b = Board()
    a, bb, c, _ = b.ids
    b.ok(MoveTask(ACTOR, a, status="todo"))
    b.ok(MoveTask(ACTOR, c, status="todo", before_id=a))
    body = b.ok(MoveTask(ACTOR, bb, status="todo", after_id=c, before_id=a))
    assert body["status"] == "todo" and body["version"] == 2
    assert b.column("todo") == [c, bb, a]
    assert b.events[-1] == "task.updated"


@pytest.mark.parametrize("where", ["after_self", "other_column", "unknown"])
def test_bad_neighbours_are_rejected(where: str) -> None:
    b = Board()
    a, bb, _, _ = b.ids
    b.ok(MoveTask(ACTOR, bb, status="todo"))
    neighbour = {"after_self": a, "other_column": bb, "unknown": uuid4()}[where]
    outcome = b.run(MoveTask(ACTOR, a, after_id=neighbour))
    assert isinstance(outcome, InvalidInput)


def test_forbidden_move_lists_allowed_statuses() -> None:
    data = template().as_json()
    data["transitions"] = [
        {"from": "backlog", "to": "todo"},
        {"from": "todo", "to": "in_progress"},
        {"from": "in_progress", "to": "in_review"},
        {"from": "in_review", "to": "done"},
    ]
    b = Board(workflow=parse_workflow(data, version=1))
    outcome = b.run(MoveTask(ACTOR, b.ids[0], status="done"))
    assert isinstance(outcome, TransitionForbidden)
    assert outcome.allowed == ("todo",)
    outcome = b.run(UpdateTask(ACTOR, b.ids[0], {"status": "done"}))
    assert isinstance(outcome, TransitionForbidden)
    assert b.events == []


def test_wip_limit_blocks_or_warns() -> None:
    b = Board(workflow=workflow_with(in_progress=1))
    b.ok(MoveTask(ACTOR, b.ids[0], status="in_progress"))
    assert isinstance(b.run(MoveTask(ACTOR, b.ids[1], status="in_progress")), WipLimitExceeded)
    assert isinstance(
        b.run(CreateTask(ACTOR, {"title": "x", "status": "in_progress"})), WipLimitExceeded
    )
    warn = Board(workflow=workflow_with(in_progress=1), settings={"wip_mode": "warn"})
    warn.ok(UpdateTask(ACTOR, warn.ids[0], {"status": "in_progress"}))
    warn.ok(UpdateTask(ACTOR, warn.ids[1], {"status": "in_progress"}))
    assert len(warn.column("in_progress")) == 2


def test_rebalance_keeps_order_and_versions() -> None:
    b = Board(n=3)
    a = b.ids[0]
    for _ in range(80):  # keep putting the last card on top: ranks grow
        b.ok(MoveTask(ACTOR, b.column("backlog")[-1], before_id=b.column("backlog")[0]))
    before = b.column("backlog")
    versions = {tid: t.version for tid, t in b.tasks.items()}
    assert max(len(t.rank) for t in b.tasks.values()) > 12
    body = b.ok(RebalanceRanks())
    assert body["reranked"] == 3
    assert b.column("backlog") == before
    assert {tid: t.version for tid, t in b.tasks.items()} == versions
    assert max(len(t.rank) for t in b.tasks.values()) <= 2
    assert b.events[-1] == "tasks.reranked"
    assert a in before


# -- subtasks, labels --------------------------------------------------------------------


def test_parent_must_be_in_project_and_acyclic() -> None:
    b = Board()
    a, bb, c, _ = b.ids
    b.ok(UpdateTask(ACTOR, bb, {"parent_id": a}))
    b.ok(UpdateTask(ACTOR, c, {"parent_id": bb}))
    assert isinstance(b.run(UpdateTask(ACTOR, a, {"parent_id": c})), InvalidInput)
    assert isinstance(b.run(UpdateTask(ACTOR, a, {"parent_id": a})), InvalidInput)
    assert isinstance(b.run(UpdateTask(ACTOR, a, {"parent_id": uuid4()})), InvalidInput)
    assert isinstance(b.run(DeleteTask(ACTOR, a)), Conflict)


def test_subtasks_done_condition_uses_children() -> None:
    data = template().as_json()
    data["transitions"] = [
        {"from": "*", "to": s["id"]} for s in data["statuses"] if s["id"] != "done"
    ] + [{"from": "*", "to": "done", "conditions": ["subtasks_done"]}]
    b = Board(workflow=parse_workflow(data, version=1))
    epic, sub, _, _ = b.ids
    b.ok(UpdateTask(ACTOR, sub, {"parent_id": epic}))
    assert isinstance(b.run(UpdateTask(ACTOR, epic, {"status": "done"})), TransitionForbidden)
    b.ok(UpdateTask(ACTOR, sub, {"status": "done"}))
    b.ok(UpdateTask(ACTOR, epic, {"status": "done"}))


def test_labels_must_exist_and_removed_labels_leave_tasks() -> None:
    b = Board()
    a = b.ids[0]
    assert isinstance(b.run(UpdateTask(ACTOR, a, {"labels": ["bug"]})), InvalidInput)
    b.ok(SetLabels(ACTOR, [{"name": "bug", "color": "#ff0000"}, {"name": "ui"}]))
    b.ok(UpdateTask(ACTOR, a, {"labels": ["bug", "ui"]}))
    b.ok(SetLabels(ACTOR, [{"name": "ui", "color": "#00ff00"}]))
    assert b.tasks[a].labels == ("ui",)
    assert b.events.count("labels.updated") == 2


# -- sprints -------------------------------------------------------------------------


def test_sprint_life_cycle_and_scope_events() -> None:
    b = Board()
    a, bb, c, d = b.ids
    s1 = UUID(b.ok(CreateSprint(ACTOR, {"name": "S1"}))["id"])
    s2 = UUID(b.ok(CreateSprint(ACTOR, {"name": "S2"}))["id"])
    b.ok(SprintScope(ACTOR, s1, add=(a, bb, c)))
    b.ok(StartSprint(ACTOR, s1))
    assert isinstance(b.run(StartSprint(ACTOR, s2)), Conflict)  # one active sprint
    b.events.clear()
    b.ok(UpdateTask(ACTOR, d, {"sprint_id": s1, "estimate": 3}))  # scope grows mid-sprint
    assert b.events == ["task.updated", "sprint.scope_changed"]
    b.ok(UpdateTask(ACTOR, a, {"status": "done"}))
    body = b.ok(CompleteSprint(ACTOR, s1, "next"))
    assert body["moved_to"] == str(s2)
    assert set(body["moved_task_ids"]) == {str(bb), str(c), str(d)}
    assert body["completed_task_ids"] == [str(a)]
    assert b.tasks[a].sprint_id == s1
    assert {b.tasks[t].sprint_id for t in (bb, c, d)} == {s2}
    b.ok(UpdateTask(ACTOR, a, {"sprint_id": s2}))  # a task may leave a completed sprint
    assert isinstance(b.run(SprintScope(ACTOR, s1, add=(a,))), InvalidInput)


def test_parallel_sprints_when_allowed() -> None:
    b = Board(settings={"parallel_sprints": True})
    s1 = UUID(b.ok(CreateSprint(ACTOR, {"name": "S1"}))["id"])
    s2 = UUID(b.ok(CreateSprint(ACTOR, {"name": "S2"}))["id"])
    b.ok(StartSprint(ACTOR, s1))
    b.ok(StartSprint(ACTOR, s2))


def test_complete_to_backlog() -> None:
    b = Board()
    s1 = UUID(b.ok(CreateSprint(ACTOR, {"name": "S1"}))["id"])
    b.ok(SprintScope(ACTOR, s1, add=tuple(b.ids)))
    assert isinstance(b.run(CompleteSprint(ACTOR, s1)), Conflict)  # not started
    b.ok(StartSprint(ACTOR, s1))
    b.ok(CompleteSprint(ACTOR, s1, "backlog"))
    assert all(t.sprint_id is None for t in b.tasks.values())


# -- bulk ----------------------------------------------------------------------------


def test_bulk_reports_each_task_and_applies_the_valid_ones() -> None:
    data = template().as_json()
    data["transitions"] = [{"from": "backlog", "to": "todo"}, {"from": "*", "to": "backlog"}] + [
        {"from": "todo", "to": s["id"]} for s in data["statuses"][2:]
    ]
    b = Board(workflow=parse_workflow(data, version=1))
    a, bb, _, _ = b.ids
    b.ok(UpdateTask(ACTOR, bb, {"status": "todo"}))
    missing = uuid4()
    body = b.ok(BulkUpdate(ACTOR, (a, bb, missing), {"status": "in_progress"}))
    statuses = [r["status"] for r in body["results"]]
    assert statuses == [409, 200, 404]
    assert body["results"][0]["error"]["allowed"] == ["todo"]
    assert b.tasks[bb].status == "in_progress" and b.tasks[a].status == "backlog"


def test_bulk_label_add_and_remove() -> None:
    b = Board()
    b.ok(SetLabels(ACTOR, [{"name": "x"}, {"name": "y"}]))
    b.ok(BulkUpdate(ACTOR, tuple(b.ids), {}, add_labels=("x", "y")))
    b.ok(BulkUpdate(ACTOR, tuple(b.ids), {}, remove_labels=("x",)))
    assert {t.labels for t in b.tasks.values()} == {("y",)}


def test_harness_is_pure() -> None:
    b = Board(n=1)
    before = dataclasses.replace(b.tasks[b.ids[0]])
    stage = _Stage(b.project, b.tasks)
    stage.decide(_pending(UpdateTask(ACTOR, b.ids[0], {"title": "x"})), {})
    assert b.tasks[b.ids[0]] == before
