"""Board moves, rank rebalancing, bulk edits, workflow and label edits: decided on a
`_Stage` like every other command, so they share its batch and its rules."""

from __future__ import annotations

import dataclasses
from typing import Any
from uuid import UUID

from actors.stage import _Stage
from domain import projects as project_rules
from domain import ranks as rank_rules
from domain import workflow as engine
from domain.commands import (
    BulkUpdate,
    Command,
    MoveTask,
    RebalanceRanks,
    Reply,
    SetLabels,
    UpdateWorkflow,
)
from domain.errors import DomainError, InvalidInput, PreconditionFailed
from domain.events import EventType
from domain.tasks import Task


def decide(stage: _Stage, command: Command) -> Reply | None:
    """The reply to `command` if it is one of this module's, else None."""
    match command:
        case MoveTask():
            return _move(stage, command)
        case RebalanceRanks(actor_id=actor):
            return _rebalance(stage, actor)
        case BulkUpdate():
            return _bulk(stage, command)
        case UpdateWorkflow():
            return _update_workflow(stage, command)
        case SetLabels(actor_id=actor, labels=labels):
            return _set_labels(stage, actor, labels)
    return None


# -- board ---------------------------------------------------------------------------


def _neighbour(stage: _Stage, task_id: UUID, moving: Task, status: str) -> Task:
    if task_id == moving.id:
        raise InvalidInput("a card cannot be placed next to itself")
    other = stage.tasks.get(task_id)
    if other is None:
        raise InvalidInput("before_id/after_id must be cards of this project")
    if other.status != status:
        raise InvalidInput(f"card {other.key} is not in the target column {status!r}")
    return other


def _rank_for(stage: _Stage, moving: Task, command: MoveTask, status: str) -> str:
    """A rank placing `moving` as asked, strictly between its new neighbours in the
    project's one total order (so columns, which are views of it, stay ordered)."""
    after = _neighbour(stage, command.after_id, moving, status) if command.after_id else None
    before = _neighbour(stage, command.before_id, moving, status) if command.before_id else None
    if after is not None and before is not None:
        if not after.rank < before.rank:
            raise InvalidInput("after_id must come before before_id in the column")
        # before.rank is itself a successor of after.rank, so this lands between them.
        return rank_rules.between(after.rank, stage.rank_after(after.rank, moving.id))
    if after is not None:
        return rank_rules.between(after.rank, stage.rank_after(after.rank, moving.id))
    if before is not None:
        return rank_rules.between(stage.rank_before(before.rank, moving.id), before.rank)
    # The end of the column: right after its last card (the end of everything for
    # an empty column), leaving the space beyond to the next card moved there.
    last = stage.column_last(status, moving.id)
    if last is None:
        return rank_rules.after(stage.max_rank_except(moving.id))
    return rank_rules.after(last, stage.rank_after(last, moving.id))


def _move(stage: _Stage, command: MoveTask) -> Reply:
    """Status and position in one row: the workflow rules apply to the status change."""
    task = stage.task(command.task_id)
    status = command.status or task.status
    moved = dataclasses.replace(task, rank=_rank_for(stage, task, command, status))
    extra = {"moved": True}
    if status != task.status:
        updated = stage.change_task(
            moved,
            {"status": status},
            command.actor_id,
            role=command.role,
            extra=extra,
            previous=task,
        )
    else:
        updated = dataclasses.replace(moved, updated_at=stage.now, version=task.version + 1)
        stage.record_update(task, updated, command.actor_id, extra=extra)
    return Reply(200, updated.as_json())


def _rebalance(stage: _Stage, actor: UUID) -> Reply:
    """Re-space every rank evenly, keeping the order. Versions stay: a card's content
    did not change, and a client's `If-Match` must not fail because of this."""
    ordered = sorted(stage.tasks.values(), key=lambda t: (t.rank, t.number))
    fresh = rank_rules.spread(len(ordered))
    changed: dict[str, str] = {}
    for task, rank in zip(ordered, fresh, strict=True):
        if task.rank != rank:
            stage.put(dataclasses.replace(task, rank=rank))
            changed[str(task.id)] = rank
    if changed:
        stage.event(EventType.TASKS_RERANKED, actor, None, {"ranks": changed})
    return Reply(200, {"reranked": len(changed)})


# -- bulk ----------------------------------------------------------------------------


def _bulk(stage: _Stage, command: BulkUpdate) -> Reply:
    results: list[dict[str, Any]] = []
    for task_id in command.task_ids:
        try:
            task = stage.task(task_id)
            changes = dict(command.changes)
            if command.add_labels or command.remove_labels:
                labels = [x for x in changes.get("labels", task.labels)]
                labels += [x for x in command.add_labels if x not in labels]
                changes["labels"] = [x for x in labels if x not in command.remove_labels]
            updated = stage.change_task(task, changes, command.actor_id, role=command.role)
            results.append({"id": str(task_id), "status": 200, "task": updated.as_json()})
        except DomainError as error:
            results.append({"id": str(task_id), "status": error.status, "error": error.as_json()})
    return Reply(200, {"results": results})


# -- workflow and labels -------------------------------------------------------------


def _update_workflow(stage: _Stage, command: UpdateWorkflow) -> Reply:
    """Replace the workflow as a whole; tasks of removed statuses move in this commit."""
    project = stage.project
    old = project.workflow
    if command.if_version is not None and command.if_version != old.version:
        raise PreconditionFailed(
            f"workflow is at version {old.version}, not {command.if_version}",
            current_version=old.version,
        )
    new = engine.parse_workflow(command.workflow, version=old.version + 1)
    tasks = list(stage.tasks.values())
    moves = engine.check_moves(old, new, command.moves, (t.status for t in tasks))
    if new.statuses == old.statuses and new.transitions == old.transitions:
        return Reply(200, old.as_json())
    stage.batch.project = dataclasses.replace(project, workflow=new)
    stage.batch.workflow_changed = True
    stage.event(
        EventType.WORKFLOW_UPDATED,
        command.actor_id,
        None,
        {"workflow": new.as_json(), "moves": moves},
    )
    for task in tasks:
        if task.status in moves:
            moved = dataclasses.replace(
                task, status=moves[task.status], updated_at=stage.now, version=task.version + 1
            )
            stage.record_update(
                task, moved, command.actor_id, extra={"workflow_version": new.version}
            )
    return Reply(200, new.as_json())


def _set_labels(stage: _Stage, actor: UUID, raw: list[dict[str, Any]]) -> Reply:
    labels = project_rules.check_labels(raw)
    project = stage.project
    if dict(labels) == dict(project.labels) and list(labels) == list(project.labels):
        return Reply(200, {"labels": project.labels_json()})
    stage.batch.project = dataclasses.replace(project, labels=labels)
    stage.batch.labels_changed = True
    stage.event(
        EventType.LABELS_UPDATED, actor, None, {"labels": stage.batch.project.labels_json()}
    )
    for task in list(stage.tasks.values()):
        kept = tuple(x for x in task.labels if x in labels)
        if kept != task.labels:
            updated = dataclasses.replace(
                task, labels=kept, updated_at=stage.now, version=task.version + 1
            )
            stage.record_update(task, updated, actor)
    return Reply(200, {"labels": stage.batch.project.labels_json()})
