"""Imports, decided on a `_Stage` like every other command: one batch of planned
items becomes tasks, comments, and any labels and sprints they name, in one
commit or not at all.

Every item is checked before anything is staged, so a bad item leaves the batch
untouched. An item whose id exists already was imported by an earlier attempt
of this batch (its reply was lost): the batch is refused as a whole rather than
half-applied again, and the runner treats that as done (see
`actors.import_runner`). Imported events carry `"imported"` in their payload so
consumers can tell them from live changes (no notifications for history).
"""

from __future__ import annotations

import dataclasses
from collections import ChainMap
from typing import Any
from uuid import UUID, uuid4

from actors import stage_sprints
from actors.stage import _Stage
from domain import custom_fields, hierarchy, ranks
from domain import tasks as task_rules
from domain.commands import Command, CreateSprint, ImportTasks, Reply
from domain.comments import Comment, check_body
from domain.errors import Conflict, DomainError, InvalidInput
from domain.events import EventType
from domain.imports import ImportItem, as_utc
from domain.tasks import Task

#: Colour of labels an import creates.
LABEL_COLOR = "#8b949e"


def decide(stage: _Stage, command: Command) -> Reply | None:
    match command:
        case ImportTasks():
            return _import(stage, command)
    return None


def _import(stage: _Stage, command: ImportTasks) -> Reply:
    built = _checked_tasks(stage, command.items)
    actor = command.actor_id
    _add_labels(stage, actor, command.items)
    sprint_ids = _sprints(stage, actor, command.items)
    project = stage.project
    stage.batch.project = dataclasses.replace(project, task_seq=project.task_seq + len(built))
    keys: dict[str, str] = {}
    # Spaced over what is left above the last card: a batch adds a few characters.
    appended = ranks.after_many(stage.max_rank(), len(built))
    for item, task, rank in zip(command.items, built, appended, strict=True):
        task = dataclasses.replace(
            task,
            rank=rank,
            sprint_id=sprint_ids.get(item.sprint) if item.sprint else None,
        )
        stage.put(task)
        marker = {
            "source": command.source,
            "key": item.source_key,
            "import_id": str(command.import_id),
        }
        stage.event(
            EventType.TASK_CREATED, actor, task.id, {"task": task.as_json(), "imported": marker}
        )
        for c in item.comments:
            _comment(stage, task, c.author_id, c.body, as_utc(c.created_at) or task.created_at)
        keys[item.source_key] = task.key
    return Reply(201, {"created": len(built), "keys": keys})


def _checked_tasks(stage: _Stage, items: tuple[ImportItem, ...]) -> list[Task]:
    """The items as tasks, every rule checked; raises before anything is staged."""
    project = stage.project
    built: dict[UUID, Task] = {}
    known = ChainMap(built, stage.tasks)  # type: ignore[arg-type]
    number = project.task_seq
    for item in items:
        if item.id in stage.tasks:
            raise Conflict(f"{item.source_key} was imported already")
        number += 1
        try:
            task = task_rules.new_task(
                id=item.id,
                org_id=project.org_id,
                project_id=project.id,
                project_key=project.key,
                number=number,
                reporter_id=item.reporter_id,
                fields=item.fields,
                statuses=project.statuses,
                now=stage.now,
            )
            values = custom_fields.values_after(
                project.fields, {}, item.fields.get("custom_fields"), creating=True
            )
            task = dataclasses.replace(task, custom_fields=values)
            hierarchy.check_parent(task.id, task.parent_id, known)
            for c in item.comments:
                check_body(c.body)
        except DomainError as error:
            raise InvalidInput(f"{item.source_key}: {error.detail}") from None
        created = as_utc(item.created_at) or stage.now
        updated = max(as_utc(item.updated_at) or created, created)
        built[task.id] = dataclasses.replace(task, created_at=created, updated_at=updated)
    return list(built.values())


def _add_labels(stage: _Stage, actor: UUID, items: tuple[ImportItem, ...]) -> None:
    labels = dict(stage.project.labels)
    for item in items:
        for name in item.fields.get("labels", ()):
            labels.setdefault(name, LABEL_COLOR)
    if len(labels) == len(stage.project.labels):
        return
    stage.batch.project = dataclasses.replace(stage.project, labels=labels)
    stage.batch.labels_changed = True
    stage.event(
        EventType.LABELS_UPDATED, actor, None, {"labels": stage.batch.project.labels_json()}
    )


def _sprints(stage: _Stage, actor: UUID, items: tuple[ImportItem, ...]) -> dict[str, UUID]:
    """Sprint name → id, creating (planned) sprints the project does not have."""
    by_name = {s.name: s.id for s in stage.sprints.values()}
    for item in items:
        if item.sprint and item.sprint not in by_name:
            reply = stage_sprints.decide(stage, CreateSprint(actor, {"name": item.sprint}))
            assert reply is not None and reply.body is not None
            by_name[item.sprint] = UUID(reply.body["id"])
    return by_name


def _comment(stage: _Stage, task: Task, author: UUID, body: str, when: Any) -> None:
    comment = Comment(
        id=uuid4(),
        org_id=task.org_id,
        project_id=task.project_id,
        task_id=task.id,
        author_id=author,
        body=body,
        created_at=when,
        updated_at=when,
    )
    stage.refs.comments[comment.id] = comment
    stage.batch.extras.new_comments[comment.id] = comment
    payload = {"comment": comment.as_json(), "imported": True}
    stage.event(EventType.COMMENT_CREATED, author, task.id, payload)
