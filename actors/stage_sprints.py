"""Sprint commands decided on a `_Stage`: create, edit, scope, start, complete."""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID, uuid4

from actors.stage import _Stage
from domain import sprints as rules
from domain.commands import (
    DEFAULT_ROLE,
    Command,
    CompleteSprint,
    CreateSprint,
    Reply,
    SprintScope,
    StartSprint,
    UpdateSprint,
)
from domain.errors import InvalidInput, NotFound
from domain.events import EventType
from domain.sprints import Sprint, SprintState


def decide(stage: _Stage, command: Command) -> Reply | None:
    """The reply to `command` if it is one of this module's, else None."""
    match command:
        case CreateSprint(actor_id=actor, fields=fields):
            sprint = rules.new_sprint(
                id=uuid4(),
                org_id=stage.project.org_id,
                project_id=stage.project.id,
                fields=fields,
                now=stage.now,
            )
            _put(stage, sprint, actor, EventType.SPRINT_CREATED)
            return Reply(201, sprint.as_json())
        case UpdateSprint(actor_id=actor, sprint_id=sprint_id, changes=changes):
            before = _sprint(stage, sprint_id)
            sprint = rules.changed_sprint(before, changes)
            if sprint != before:
                _put(stage, sprint, actor, EventType.SPRINT_UPDATED)
            return Reply(200, sprint.as_json())
        case StartSprint(actor_id=actor, sprint_id=sprint_id):
            sprint = rules.started(
                _sprint(stage, sprint_id),
                stage.sprints.values(),
                parallel=stage.project.parallel_sprints,
                now=stage.now,
            )
            _put(stage, sprint, actor, EventType.SPRINT_STARTED, _scope(stage, sprint))
            return Reply(200, sprint.as_json())
        case CompleteSprint():
            return _complete(stage, command)
        case SprintScope():
            return _change_scope(stage, command)
    return None


def _sprint(stage: _Stage, sprint_id: UUID) -> Sprint:
    sprint = stage.sprints.get(sprint_id)
    if sprint is None:
        raise NotFound("sprint not found")
    return sprint


def _scope(stage: _Stage, sprint: Sprint) -> dict[str, object]:
    """The sprint's tasks and points at this moment (a burndown's baseline)."""
    tasks = [t for t in stage.tasks.values() if t.sprint_id == sprint.id]
    return {
        "task_ids": [str(t.id) for t in tasks],
        "estimate_total": sum(t.estimate or 0.0 for t in tasks),
    }


def _put(
    stage: _Stage,
    sprint: Sprint,
    actor: UUID,
    type_: EventType,
    extra: Mapping[str, object] | None = None,
) -> None:
    stage.sprints[sprint.id] = sprint
    stage.batch.sprints = [s for s in stage.batch.sprints if s.id != sprint.id] + [sprint]
    stage.event(type_, actor, None, {"sprint": sprint.as_json(), **(extra or {})})


def _complete(stage: _Stage, command: CompleteSprint) -> Reply:
    """Complete the sprint; its unfinished tasks go to the chosen sprint or the backlog."""
    sprint = _sprint(stage, command.sprint_id)
    target: Sprint | None = None
    if command.move_to == "next":
        target = rules.next_planned(stage.sprints.values(), sprint)
    elif command.move_to != "backlog":
        try:
            target = stage.sprints.get(UUID(command.move_to))
        except ValueError:
            target = None
        if target is None or target.id == sprint.id or target.state is SprintState.COMPLETED:
            raise InvalidInput.field(
                "move_to", "must be 'backlog', 'next' or another open sprint of this project"
            )
    done = rules.completed(sprint, now=stage.now)
    workflow = stage.project.workflow
    unfinished = [
        t
        for t in stage.tasks.values()
        if t.sprint_id == sprint.id and not workflow.is_done(t.status)
    ]
    finished = [
        t for t in stage.tasks.values() if t.sprint_id == sprint.id and workflow.is_done(t.status)
    ]
    summary = {
        "completed_task_ids": [str(t.id) for t in finished],
        "moved_task_ids": [str(t.id) for t in unfinished],
        "moved_to": str(target.id) if target else "backlog",
    }
    # The sprint closes first, so moving its leftovers out is not a scope change.
    _put(stage, done, command.actor_id, EventType.SPRINT_COMPLETED, summary)
    target_id = target.id if target else None
    for task in unfinished:
        stage.change_task(task, {"sprint_id": target_id}, command.actor_id, role=DEFAULT_ROLE)
    return Reply(200, {"sprint": done.as_json(), **summary})


def _change_scope(stage: _Stage, command: SprintScope) -> Reply:
    """All-or-nothing: every task must exist before any joins or leaves the sprint."""
    sprint = _sprint(stage, command.sprint_id)
    rules.accepts_tasks(sprint)
    adds = [stage.task(tid) for tid in command.add]
    removes = [stage.task(tid) for tid in command.remove]
    for task in adds:
        if task.sprint_id != sprint.id:
            stage.change_task(task, {"sprint_id": sprint.id}, command.actor_id, role=DEFAULT_ROLE)
    for task in removes:
        current = stage.task(task.id)
        if current.sprint_id == sprint.id:
            stage.change_task(current, {"sprint_id": None}, command.actor_id, role=DEFAULT_ROLE)
    tasks = [t for t in stage.tasks.values() if t.sprint_id == sprint.id]
    return Reply(200, {"sprint": sprint.as_json(), "task_ids": [str(t.id) for t in tasks]})
