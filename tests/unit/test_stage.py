"""The grain's pure decision stage `_Stage`: one batch of commands, no storage."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any
from uuid import UUID, uuid4

import pytest

from actors.grain import TaskQuery, _Pending, _Stage
from domain.commands import (
    Command,
    CreateTask,
    DeleteProject,
    DeleteTask,
    IdempotencyKey,
    Reply,
    UpdateProject,
    UpdateTask,
    UpdateWorkflow,
)
from domain.errors import DomainError, InvalidInput, NotFound, PreconditionFailed
from domain.projects import Project
from domain.tasks import Priority, Task
from domain.workflow import Workflow
from serve_app.idempotency import request_hash
from storage.project_store import Batch
from tests.unit.factories import make_project, make_task

ACTOR = uuid4()
ORG = uuid4()
Stored = dict[tuple[UUID, UUID, str], tuple[str, Reply]]


class Harness:
    """A project with three tasks (numbers 1-3), and a stage over them."""

    def __init__(self) -> None:
        self.project: Project = make_project(task_seq=3, version=10)
        self.tasks: dict[UUID, Task] = {}
        for n in (1, 2, 3):
            task = make_task(self.project, number=n)
            self.tasks[task.id] = task
        self.ids = list(self.tasks)
        self.snapshot = dict(self.tasks)
        self.stage = _Stage(self.project, self.tasks)
        self.loop = asyncio.get_running_loop()

    def run(
        self, *commands: Command | tuple[Command, IdempotencyKey], stored: Stored | None = None
    ) -> list[Reply | DomainError]:
        outcomes = []
        for item in commands:
            command, key = item if isinstance(item, tuple) else (item, None)
            pending = _Pending(command, key, self.loop.create_future())
            outcomes.append(self.stage.decide(pending, stored or {}))
        return outcomes

    @property
    def batch(self) -> Batch:
        return self.stage.batch

    def event_types(self) -> list[str]:
        return [e.type.value for e in self.batch.events]


@pytest.fixture
async def h() -> Harness:
    return Harness()


def create(title: str = "New", **fields: object) -> CreateTask:
    return CreateTask(ACTOR, {"title": title, **fields})


def idem_key(
    key: str = "k-1", body: object = None, user: UUID = ACTOR, org: UUID | None = None
) -> IdempotencyKey:
    return IdempotencyKey(org or ORG, user, key, request_hash("POST", "/api/v1/tasks", body))


def ok(outcome: Reply | DomainError) -> Reply:
    assert isinstance(outcome, Reply), outcome
    return outcome


def body(outcome: Reply | DomainError) -> dict[str, Any]:
    reply = ok(outcome)
    assert reply.body is not None
    return reply.body


# -- creates ----------------------------------------------------------------------


async def test_batch_of_creates_numbers_tasks_consecutively(h: Harness) -> None:
    replies = [ok(o) for o in h.run(create("a"), create("b"), create("c"))]
    assert [r.status for r in replies] == [201, 201, 201]
    assert [r.body["key"] for r in replies if r.body] == ["WEB-4", "WEB-5", "WEB-6"]
    assert [t.number for t in h.batch.created] == [4, 5, 6]
    assert [t.title for t in h.batch.created] == ["a", "b", "c"]
    assert len({t.id for t in h.batch.created}) == 3
    assert h.batch.project.task_seq == 6
    # one project version per event, numbered consecutively
    assert h.batch.project.version == 13
    assert [e.version for e in h.batch.events] == [11, 12, 13]
    assert h.event_types() == ["task.created"] * 3
    for task, reply, event in zip(h.batch.created, replies, h.batch.events, strict=True):
        assert reply.body == task.as_json()
        assert event.payload == {"task": task.as_json()}
        assert event.task_id == task.id
        assert event.actor_id == ACTOR
        assert event.project_id == h.project.id
        assert task.reporter_id == ACTOR
        assert task.project_id == h.project.id
        assert task.org_id == h.project.org_id
        assert task.version == 1


async def test_stage_does_not_touch_the_committed_state(h: Harness) -> None:
    h.run(create(), UpdateTask(ACTOR, h.ids[0], {"title": "x"}), DeleteTask(ACTOR, h.ids[1]))
    # the grain applies a batch only after it committed
    assert h.tasks == h.snapshot
    assert h.stage.batch.project is not h.project
    assert h.project.version == 10
    assert h.project.task_seq == 3


async def test_failed_create_does_not_use_up_a_number(h: Harness) -> None:
    outcomes = h.run(create("a"), create("   "), create("c"))
    assert isinstance(outcomes[1], InvalidInput)
    assert [t.key for t in h.batch.created] == ["WEB-4", "WEB-5"]
    assert h.batch.project.task_seq == 5
    assert [e.version for e in h.batch.events] == [11, 12]


# -- updates and deletes within one batch ----------------------------------------


async def test_create_then_update_is_one_created_row_with_the_update(h: Harness) -> None:
    created = ok(h.run(create("draft"))[0])
    assert created.body is not None
    task_id = UUID(created.body["id"])
    updated = ok(
        h.run(UpdateTask(ACTOR, task_id, {"title": "final", "priority": "high"}, if_match=1))[0]
    )
    assert updated.status == 200
    assert updated.body is not None
    assert updated.body["version"] == 2
    assert len(h.batch.created) == 1
    row = h.batch.created[0]
    assert (row.id, row.title, row.priority, row.version) == (task_id, "final", Priority.HIGH, 2)
    assert h.batch.updated == []
    assert h.event_types() == ["task.created", "task.updated"]
    assert h.batch.events[1].payload == {
        "task_id": str(task_id),
        "version": 2,
        "changes": {"title": "final", "priority": "high"},
        "from": {"title": "draft", "priority": "none"},
    }
    assert h.batch.project.version == 12


async def test_update_then_delete_ends_as_a_delete(h: Harness) -> None:
    target = h.ids[0]
    outcomes = h.run(
        UpdateTask(ACTOR, target, {"title": "renamed"}), DeleteTask(ACTOR, target, if_match=2)
    )
    assert ok(outcomes[1]) == Reply(204, None)
    assert h.batch.updated == []
    assert [t.id for t in h.batch.deleted] == [target]
    assert h.event_types() == ["task.updated", "task.deleted"]
    assert h.batch.events[1].payload == {"task_id": str(target), "key": "WEB-1"}
    assert h.batch.project.version == 12


async def test_create_then_delete_leaves_no_rows(h: Harness) -> None:
    created = ok(h.run(create())[0])
    assert created.body is not None
    ok(h.run(DeleteTask(ACTOR, UUID(created.body["id"])))[0])
    assert h.batch.created == []
    assert h.batch.deleted == []
    assert h.event_types() == ["task.created", "task.deleted"]


async def test_deleted_task_is_gone_for_later_commands(h: Harness) -> None:
    target = h.ids[2]
    outcomes = h.run(
        DeleteTask(ACTOR, target),
        UpdateTask(ACTOR, target, {"title": "too late"}),
        DeleteTask(ACTOR, target),
    )
    ok(outcomes[0])
    assert isinstance(outcomes[1], NotFound)
    assert isinstance(outcomes[2], NotFound)
    assert [t.id for t in h.batch.deleted] == [target]
    assert h.event_types() == ["task.deleted"]


async def test_two_updates_of_one_task_see_each_other(h: Harness) -> None:
    target = h.ids[0]
    outcomes = h.run(
        UpdateTask(ACTOR, target, {"status": "in_progress"}, if_match=1),
        UpdateTask(ACTOR, target, {"status": "done"}, if_match=1),  # stale now
        UpdateTask(ACTOR, target, {"status": "done"}, if_match=2),
    )
    assert body(outcomes[0])["version"] == 2
    assert isinstance(outcomes[1], PreconditionFailed)
    assert outcomes[1].current_version == 2
    assert body(outcomes[2])["version"] == 3
    assert len(h.batch.updated) == 1
    assert (h.batch.updated[0].status, h.batch.updated[0].version) == ("done", 3)
    assert h.event_types() == ["task.updated", "task.updated"]


async def test_noop_update_produces_no_event(h: Harness) -> None:
    target = h.tasks[h.ids[0]]
    reply = ok(
        h.run(UpdateTask(ACTOR, target.id, {"title": target.title, "status": target.status}))[0]
    )
    assert reply.status == 200
    assert reply.body == target.as_json()
    assert h.batch.events == []
    assert h.batch.updated == []
    assert h.batch.project.version == 10


# -- idempotency ------------------------------------------------------------------


async def test_idempotency_hit_with_same_hash_replays_stored_reply(h: Harness) -> None:
    body = {"title": "New"}
    key = idem_key("retry-1", body)
    first = Reply(201, {"id": "first", "key": "WEB-1"}, replayed=True)
    stored: Stored = {(key.org_id, key.user_id, key.key): (key.request_hash, first)}
    [outcome] = h.run((create("New"), key), stored=stored)
    assert outcome == first
    assert h.batch.created == []
    assert h.batch.events == []
    assert h.batch.replies == []
    assert h.batch.project == h.project


async def test_idempotency_hit_with_other_body_is_invalid_input(h: Harness) -> None:
    key = idem_key("retry-1", {"title": "New"})
    stored: Stored = {
        (key.org_id, key.user_id, key.key): ("a-different-hash", Reply(201, {"id": "first"}, True))
    }
    [outcome] = h.run((create("New"), key), stored=stored)
    assert isinstance(outcome, InvalidInput)
    assert h.batch.created == []
    assert h.batch.events == []
    assert h.batch.replies == []


async def test_idempotency_is_scoped_by_user(h: Harness) -> None:
    mine = idem_key("same", {"title": "New"})
    theirs = dataclasses.replace(mine, user_id=uuid4())
    stored: Stored = {
        (theirs.org_id, theirs.user_id, theirs.key): (theirs.request_hash, Reply(201, {}))
    }
    [outcome] = h.run((create("New"), mine), stored=stored)
    assert body(outcome)["key"] == "WEB-4"
    assert len(h.batch.created) == 1


async def test_new_key_records_the_reply(h: Harness) -> None:
    key = idem_key("fresh", {"title": "New"})
    [outcome] = h.run((create("New"), key))
    assert h.batch.replies == [(key, outcome)]


async def test_failed_command_does_not_record_its_key(h: Harness) -> None:
    key = idem_key("bad", {"title": ""})
    [outcome] = h.run((create(""), key))
    assert isinstance(outcome, InvalidInput)
    assert h.batch.replies == []


async def test_same_key_twice_in_one_batch_creates_once(h: Harness) -> None:
    # a client retry can be queued behind its first attempt and land in the same batch
    key = idem_key("dup", {"title": "New"})
    first, second = h.run((create("New"), key), (create("New"), key))
    assert len(h.batch.created) == 1
    assert h.event_types() == ["task.created"]
    assert ok(second).status == 201
    assert ok(second).body == ok(first).body
    assert [k for k, _ in h.batch.replies] == [key]


async def test_same_key_with_other_body_in_one_batch_is_invalid_input(h: Harness) -> None:
    key = idem_key("dup", {"title": "New"})
    other = dataclasses.replace(
        key, request_hash=request_hash("POST", "/api/v1/tasks", {"title": "Other"})
    )
    first, second = h.run((create("New"), key), (create("Other"), other))
    ok(first)
    assert isinstance(second, InvalidInput)
    assert [t.title for t in h.batch.created] == ["New"]
    assert [k for k, _ in h.batch.replies] == [key]


# -- isolation of failures -------------------------------------------------------


async def test_domain_error_in_one_command_does_not_affect_others(h: Harness) -> None:
    outcomes = h.run(
        create("one"),
        UpdateTask(ACTOR, uuid4(), {"title": "x"}),  # no such task
        create("two", status="nope"),  # invalid field
        UpdateTask(ACTOR, h.ids[0], {"title": "x"}, if_match=9),  # stale
        CreateTask(ACTOR, {"title": "x", "version": 3}),  # server-owned field
        DeleteTask(ACTOR, h.ids[1], if_match=5),  # stale
        UpdateTask(ACTOR, h.ids[2], {"title": "renamed"}),
        create("three"),
    )
    kinds = [type(o).__name__ for o in outcomes]
    assert kinds == [
        "Reply",
        "NotFound",
        "InvalidInput",
        "PreconditionFailed",
        "InvalidInput",
        "PreconditionFailed",
        "Reply",
        "Reply",
    ]
    assert [t.title for t in h.batch.created] == ["one", "three"]
    assert [t.key for t in h.batch.created] == ["WEB-4", "WEB-5"]
    assert [t.id for t in h.batch.updated] == [h.ids[2]]
    assert h.batch.deleted == []
    assert h.event_types() == ["task.created", "task.updated", "task.created"]
    assert [e.version for e in h.batch.events] == [11, 12, 13]
    assert h.batch.project.version == 13


# -- project commands -------------------------------------------------------------


async def test_update_project_emits_one_event(h: Harness) -> None:
    reply = ok(h.run(UpdateProject(ACTOR, {"name": "Renamed", "description": None}))[0])
    assert reply.body is not None
    assert reply.body["name"] == "Renamed"
    assert reply.body["version"] == 11
    assert h.batch.project_changed
    assert h.event_types() == ["project.updated"]
    assert h.batch.events[0].version == 11
    assert h.batch.events[0].payload["project"]["name"] == "Renamed"


async def test_project_updated_payload_matches_the_reply(h: Harness) -> None:
    reply = ok(h.run(UpdateProject(ACTOR, {"name": "Renamed"}))[0])
    event = h.batch.events[0]
    assert event.payload == {"project": reply.body}
    assert event.payload["project"]["version"] == event.version


async def test_noop_project_update_emits_nothing(h: Harness) -> None:
    reply = ok(h.run(UpdateProject(ACTOR, {"name": h.project.name}))[0])
    assert reply.body == h.project.as_json()
    assert h.batch.events == []
    assert not h.batch.project_changed


async def test_update_project_rejects_unknown_fields(h: Harness) -> None:
    [outcome] = h.run(UpdateProject(ACTOR, {"key": "NEW"}))
    assert isinstance(outcome, InvalidInput)
    assert outcome.errors[0].loc == ("body", "key")
    assert h.batch.events == []


def kanban_with(*extra: dict[str, Any]) -> dict[str, Any]:
    wf = h_workflow().as_json()
    wf["statuses"] = [*extra, *wf["statuses"]]
    return wf


def h_workflow() -> Workflow:
    from domain.workflow_templates import template

    return template()


async def test_new_workflow_applies_to_later_creates_in_the_batch(h: Harness) -> None:
    triage = {"id": "triage", "name": "Triage", "category": "todo", "color": "#000000"}
    ok(h.run(UpdateWorkflow(ACTOR, kanban_with(triage)))[0])
    reply = ok(h.run(create("after"))[0])
    assert reply.body is not None
    assert reply.body["status"] == "triage"
    assert h.batch.workflow_changed
    assert h.event_types() == ["workflow.updated", "task.created"]


async def test_removing_a_status_in_use_is_rejected(h: Harness) -> None:
    # every existing task is "backlog"
    wf = h_workflow().as_json()
    wf["statuses"] = wf["statuses"][1:]
    wf["transitions"] = [t for t in wf["transitions"] if t["to"] != "backlog"]
    [outcome] = h.run(UpdateWorkflow(ACTOR, wf))
    assert isinstance(outcome, InvalidInput)
    assert "backlog" in outcome.detail
    assert h.batch.project.statuses == h.project.statuses


@pytest.mark.parametrize("how", ["moved", "deleted"])
async def test_status_freed_earlier_in_the_batch_can_be_removed(h: Harness, how: str) -> None:
    for task_id in h.ids:
        if how == "moved":
            ok(h.run(UpdateTask(ACTOR, task_id, {"status": "done"}))[0])
        else:
            ok(h.run(DeleteTask(ACTOR, task_id))[0])
    wf = h_workflow().as_json()
    wf["statuses"] = wf["statuses"][1:]
    wf["transitions"] = [t for t in wf["transitions"] if t["to"] != "backlog"]
    [outcome] = h.run(UpdateWorkflow(ACTOR, wf))
    assert isinstance(outcome, Reply), outcome


async def test_removed_status_moves_its_tasks_in_the_same_batch(h: Harness) -> None:
    wf = h_workflow().as_json()
    wf["statuses"] = wf["statuses"][1:]
    wf["transitions"] = [t for t in wf["transitions"] if t["to"] != "backlog"]
    reply = ok(h.run(UpdateWorkflow(ACTOR, wf, moves={"backlog": "todo"}))[0])
    assert reply.body is not None and reply.body["version"] == 2
    assert {t.status for t in h.batch.updated} == {"todo"}
    assert len(h.batch.updated) == 3
    assert h.event_types() == ["workflow.updated"] + ["task.updated"] * 3


async def test_delete_project(h: Harness) -> None:
    reply = ok(h.run(DeleteProject(ACTOR))[0])
    assert reply == Reply(204, None)
    assert h.batch.project_deleted
    assert h.event_types() == ["project.deleted"]
    assert h.batch.events[0].task_id is None
    assert h.batch.project.version == 11


async def test_commands_after_project_delete_in_same_batch_fail(h: Harness) -> None:
    outcomes = h.run(DeleteProject(ACTOR), create("ghost"), DeleteProject(ACTOR))
    assert isinstance(outcomes[1], DomainError)
    assert isinstance(outcomes[2], DomainError)
    assert h.batch.created == []
    assert h.event_types() == ["project.deleted"]


# -- TaskQuery --------------------------------------------------------------------


def test_task_query_defaults() -> None:
    query = TaskQuery()
    assert (query.status, query.assignee_id, query.unassigned, query.priority) == (
        None,
        None,
        False,
        None,
    )
    assert query.after == 0
    assert query.limit == 50
    with pytest.raises(dataclasses.FrozenInstanceError):
        query.limit = 10  # type: ignore[misc]
