"""Tasks: the entity, its field rules, and the pure create/update/delete decisions.

A project grain calls these with its current state; they return the new task (or
raise a `DomainError`) and never touch storage.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from domain.errors import InvalidInput, PreconditionFailed

TITLE_MAX = 255
DESCRIPTION_MAX_BYTES = 100 * 1024
ESTIMATE_MAX = 10_000
LABELS_MAX = 50
WATCHERS_MAX = 200

#: Fields a client may set on create or change on update; everything else a task
#: carries is owned by the server (`rank` changes only through a move).
EDITABLE_FIELDS = frozenset(
    {
        "title",
        "description",
        "status",
        "priority",
        "assignee_id",
        "parent_id",
        "estimate",
        "due_date",
        "start_date",
        "labels",
        "watchers",
        "sprint_id",
        "custom_fields",
    }
)


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
    rank: str = ""
    parent_id: UUID | None = None
    estimate: float | None = None
    due_date: date | None = None
    start_date: date | None = None
    labels: tuple[str, ...] = ()
    watchers: tuple[UUID, ...] = ()
    sprint_id: UUID | None = None
    #: Custom field values by field id (`domain.custom_fields`).
    custom_fields: Mapping[str, Any] = dataclasses.field(default_factory=dict)

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
            "rank": self.rank,
            "parent_id": _str_or_none(self.parent_id),
            "estimate": self.estimate,
            "due_date": _iso_or_none(self.due_date),
            "start_date": _iso_or_none(self.start_date),
            "labels": list(self.labels),
            "watchers": [str(w) for w in self.watchers],
            "sprint_id": _str_or_none(self.sprint_id),
            "custom_fields": dict(self.custom_fields),
        }


def _str_or_none(value: UUID | None) -> str | None:
    return None if value is None else str(value)


def _iso_or_none(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


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
    for name in ("assignee_id", "parent_id", "sprint_id"):
        value = out.get(name)
        if value is not None and not isinstance(value, UUID):
            raise InvalidInput.field(name, "must be an id")
    _check_planning_fields(out)
    if "custom_fields" in out and not isinstance(out["custom_fields"], Mapping):
        raise InvalidInput.field("custom_fields", "must be an object of field → value")
    return out


def _check_planning_fields(out: dict[str, Any]) -> None:
    """Estimate, dates, labels and watchers (normalised in place)."""
    if out.get("estimate") is not None:
        estimate = out["estimate"]
        if (
            isinstance(estimate, bool)
            or not isinstance(estimate, int | float)
            or not math.isfinite(estimate)
            or not 0 <= estimate <= ESTIMATE_MAX
        ):
            raise InvalidInput.field("estimate", f"must be a number from 0 to {ESTIMATE_MAX}")
        out["estimate"] = float(estimate)
    for name in ("due_date", "start_date"):
        value = out.get(name)
        if value is not None and (isinstance(value, datetime) or not isinstance(value, date)):
            raise InvalidInput.field(name, "must be a date")
    if "labels" in out:
        labels = out["labels"] or []
        if not isinstance(labels, list | tuple) or not all(isinstance(x, str) for x in labels):
            raise InvalidInput.field("labels", "must be a list of label names")
        if len(labels) > LABELS_MAX:
            raise InvalidInput.field("labels", f"at most {LABELS_MAX} labels")
        out["labels"] = tuple(dict.fromkeys(labels))
    if "watchers" in out:
        watchers = out["watchers"] or []
        if not isinstance(watchers, list | tuple) or not all(isinstance(w, UUID) for w in watchers):
            raise InvalidInput.field("watchers", "must be a list of user ids")
        if len(watchers) > WATCHERS_MAX:
            raise InvalidInput.field("watchers", f"at most {WATCHERS_MAX} watchers")
        out["watchers"] = tuple(dict.fromkeys(watchers))


def check_dates(task: Task) -> None:
    """A task may not be due before it starts."""
    if task.start_date and task.due_date and task.due_date < task.start_date:
        raise InvalidInput.field("due_date", "must not be before start_date")


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
    rank: str = "",
) -> Task:
    """Decide a new task. `fields` must contain a title; status defaults to the first.

    References (`parent_id`, `sprint_id`, `labels`) are checked by the caller, who
    knows the project.
    """
    checked = check_fields(fields, statuses=statuses)
    if "title" not in checked:
        raise InvalidInput.field("title", "is required")
    task = Task(
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
        rank=rank,
        parent_id=checked.get("parent_id"),
        estimate=checked.get("estimate"),
        due_date=checked.get("due_date"),
        start_date=checked.get("start_date"),
        labels=checked.get("labels") or (),
        watchers=checked.get("watchers") or (),
        sprint_id=checked.get("sprint_id"),
    )
    check_dates(task)
    return task


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
    check_dates(updated)
    return updated, diff
