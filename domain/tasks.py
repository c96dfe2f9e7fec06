"""Tasks: the entity, its field rules, and the pure create/update/delete decisions.

A project grain calls these with its current state; they return the new task (or
raise a `DomainError`) and never touch storage.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from domain.errors import InvalidInput, PreconditionFailed

TITLE_MAX = 255
DESCRIPTION_MAX_BYTES = 100 * 1024

#: Fields a client may set on create or change on update; everything else a task
#: carries is owned by the server.
EDITABLE_FIELDS = frozenset({"title", "description", "status", "priority", "assignee_id"})


class Priority(StrEnum):
    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


@dataclass(frozen=True, slots=True)
class Task:
    id: UUID
    org_id: UUID
    project_id: UUID
    number: int
    key: str
    title: str
    description: str
    status: str
    priority: Priority
    assignee_id: UUID | None
    reporter_id: UUID
    created_at: datetime
    updated_at: datetime
    version: int

    def as_json(self) -> dict[str, Any]:
        """The public representation, shared by the API and the event payloads."""
        return {
            "id": str(self.id),
            "key": self.key,
            "project_id": str(self.project_id),
            "title": self.title,
            "description": self.description,
            "status": self.status,
            "priority": self.priority.value,
            "assignee_id": str(self.assignee_id) if self.assignee_id else None,
            "reporter_id": str(self.reporter_id),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "version": self.version,
        }


def check_fields(fields: Mapping[str, Any], *, statuses: tuple[str, ...]) -> dict[str, Any]:
    """Validate client-supplied task fields; return them normalised.

    Raises `InvalidInput` naming the first offending field. Unknown or server-owned
    fields are rejected rather than ignored, so a client learns of its mistake.
    """
    unknown = sorted(set(fields) - EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput.field(unknown[0], "field cannot be set by clients")
    out = dict(fields)
    if "title" in out:
        title = out["title"]
        if not isinstance(title, str) or not title.strip():
            raise InvalidInput.field("title", "must be a non-empty string")
        if len(title) > TITLE_MAX:
            raise InvalidInput.field("title", f"must be at most {TITLE_MAX} characters")
        out["title"] = title.strip()
    if "description" in out:
        description = out["description"]
        if description is None:
            out["description"] = ""
        elif not isinstance(description, str):
            raise InvalidInput.field("description", "must be a string")
        else:
            try:
                size = len(description.encode())
            except UnicodeEncodeError:
                raise InvalidInput.field("description", "must be valid Unicode text") from None
            if size > DESCRIPTION_MAX_BYTES:
                raise InvalidInput.field("description", "must be at most 100 KB")
    if "status" in out and out["status"] not in statuses:
        raise InvalidInput.field("status", f"must be one of: {', '.join(statuses)}")
    if "priority" in out:
        try:
            out["priority"] = Priority(out["priority"])
        except ValueError:
            allowed = ", ".join(p.value for p in Priority)
            raise InvalidInput.field("priority", f"must be one of: {allowed}") from None
    assignee = out.get("assignee_id")
    if assignee is not None and not isinstance(assignee, UUID):
        raise InvalidInput.field("assignee_id", "must be a user id")
    return out


def new_task(
    *,
    id: UUID,
    org_id: UUID,
    project_id: UUID,
    project_key: str,
    number: int,
    reporter_id: UUID,
    fields: Mapping[str, Any],
    statuses: tuple[str, ...],
    now: datetime,
) -> Task:
    """Decide a new task. `fields` must contain a title; status defaults to the first."""
    checked = check_fields(fields, statuses=statuses)
    if "title" not in checked:
        raise InvalidInput.field("title", "is required")
    return Task(
        id=id,
        org_id=org_id,
        project_id=project_id,
        number=number,
        key=f"{project_key}-{number}",
        title=checked["title"],
        description=checked.get("description") or "",
        status=checked.get("status") or statuses[0],
        priority=checked.get("priority") or Priority.NONE,
        assignee_id=checked.get("assignee_id"),
        reporter_id=reporter_id,
        created_at=now,
        updated_at=now,
        version=1,
    )


def check_version(task: Task, if_match: int | None) -> None:
    """Raise `PreconditionFailed` when the client's `If-Match` is not the current version."""
    if if_match is not None and if_match != task.version:
        raise PreconditionFailed(
            f"task {task.key} is at version {task.version}, not {if_match}",
            current_version=task.version,
        )


def changed_task(
    task: Task,
    changes: Mapping[str, Any],
    *,
    if_match: int | None,
    statuses: tuple[str, ...],
    now: datetime,
) -> tuple[Task, dict[str, Any]]:
    """Decide an update. Returns the new task and the fields that really changed.

    An update that changes nothing returns the task unchanged (same version).
    """
    check_version(task, if_match)
    checked = check_fields(changes, statuses=statuses)
    diff = {k: v for k, v in checked.items() if getattr(task, k) != v}
    if not diff:
        return task, {}
    updated = dataclasses.replace(task, **diff, updated_at=now, version=task.version + 1)
    return updated, diff
