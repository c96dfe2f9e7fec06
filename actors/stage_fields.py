"""Custom field definitions, decided on a `_Stage` like every other command.

Definitions live on the project (`Project.fields`); a change is written with the
project row (`fields_changed`) and announced as `fields.updated`. Deleting a
field strips its values from every task in the same commit, each as an ordinary
task update, so subscribers and consumers see the values go.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from uuid import UUID

from actors.stage import _Stage
from domain import custom_fields as rules
from domain.commands import Command, CreateField, DeleteField, Reply, UpdateField
from domain.custom_fields import FieldDef
from domain.errors import NotFound
from domain.events import EventType
from domain.tasks import Task


def decide(stage: _Stage, command: Command) -> Reply | None:
    match command:
        case CreateField(actor_id=actor, definition=definition):
            field = rules.new_definition(definition, stage.project.fields)
            _save(stage, actor, (*stage.project.fields, field))
            return Reply(201, field.as_json())
        case UpdateField(actor_id=actor, field_id=field_id, changes=changes):
            before = _field(stage, field_id)
            after = rules.changed_definition(before, changes, stage.project.fields)
            if after != before:
                _save(
                    stage,
                    actor,
                    tuple(after if f.id == field_id else f for f in stage.project.fields),
                )
                _drop_removed_options(stage, actor, before, after)
            return Reply(200, after.as_json())
        case DeleteField(actor_id=actor, field_id=field_id):
            field = _field(stage, field_id)
            _save(stage, actor, tuple(f for f in stage.project.fields if f.id != field_id))
            for task in list(stage.tasks.values()):
                if field.id in task.custom_fields:
                    values = {k: v for k, v in task.custom_fields.items() if k != field.id}
                    _set_values(stage, actor, task, values)
            return Reply(204, None)
    return None


def _field(stage: _Stage, field_id: str) -> FieldDef:
    for field in stage.project.fields:
        if field.id == field_id:
            return field
    raise NotFound("custom field not found")


def _save(stage: _Stage, actor: UUID, fields: tuple[FieldDef, ...]) -> None:
    stage.batch.project = dataclasses.replace(stage.project, fields=fields)
    stage.batch.fields_changed = True
    payload = {"fields": [f.as_json() for f in fields]}
    stage.event(EventType.FIELDS_UPDATED, actor, None, payload)


def _drop_removed_options(stage: _Stage, actor: UUID, before: FieldDef, after: FieldDef) -> None:
    """Values naming an option that no longer exists are cleared."""
    gone = {o.id for o in before.options} - {o.id for o in after.options}
    if not gone:
        return
    for task in list(stage.tasks.values()):
        value = task.custom_fields.get(after.id)
        if value is None:
            continue
        if isinstance(value, list):
            kept = [v for v in value if v not in gone]
            if kept == value:
                continue
            new = {**task.custom_fields, after.id: kept} if kept else _without(task, after.id)
        elif value in gone:
            new = _without(task, after.id)
        else:
            continue
        _set_values(stage, actor, task, new)


def _without(task: Task, field_id: str) -> dict[str, Any]:
    return {k: v for k, v in task.custom_fields.items() if k != field_id}


def _set_values(stage: _Stage, actor: UUID, task: Task, values: dict[str, Any]) -> None:
    after = dataclasses.replace(
        task, custom_fields=values, updated_at=stage.now, version=task.version + 1
    )
    stage.record_update(task, after, actor)
