"""Sprints (cycles): fields, and the planned → active → completed life cycle."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from domain.errors import Conflict, InvalidInput

NAME_MAX = 120
GOAL_MAX = 2_000
EDITABLE_FIELDS = frozenset({"name", "goal", "start_date", "end_date"})


class SprintState(StrEnum):
    PLANNED = "planned"
    ACTIVE = "active"
    COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class Sprint:
    id: UUID
    org_id: UUID
    project_id: UUID
    name: str
    goal: str
    start_date: date | None
    end_date: date | None
    state: SprintState
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        def iso(value: date | None) -> str | None:
            return None if value is None else value.isoformat()

        return {
            "id": str(self.id),
            "project_id": str(self.project_id),
            "name": self.name,
            "goal": self.goal,
            "start_date": iso(self.start_date),
            "end_date": iso(self.end_date),
            "state": self.state.value,
            "created_at": self.created_at.isoformat(),
            "started_at": iso(self.started_at),
            "completed_at": iso(self.completed_at),
        }


def _checked(fields: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(fields) - EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput.field(unknown[0], "field cannot be set by clients")
    out = dict(fields)
    if "name" in out:
        name = out["name"]
        if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
            raise InvalidInput.field("name", f"must be 1 to {NAME_MAX} characters")
        out["name"] = name.strip()
    if "goal" in out:
        goal = out["goal"] or ""
        if not isinstance(goal, str) or len(goal) > GOAL_MAX:
            raise InvalidInput.field("goal", f"must be at most {GOAL_MAX} characters")
        out["goal"] = goal
    for name in ("start_date", "end_date"):
        value = out.get(name)
        if value is not None and (isinstance(value, datetime) or not isinstance(value, date)):
            raise InvalidInput.field(name, "must be a date")
    return out


def _check_dates(sprint: Sprint) -> Sprint:
    if sprint.start_date and sprint.end_date and sprint.end_date < sprint.start_date:
        raise InvalidInput.field("end_date", "must not be before start_date")
    return sprint


def new_sprint(
    *, id: UUID, org_id: UUID, project_id: UUID, fields: Mapping[str, Any], now: datetime
) -> Sprint:
    checked = _checked(fields)
    if "name" not in checked:
        raise InvalidInput.field("name", "is required")
    sprint = Sprint(
        id=id,
        org_id=org_id,
        project_id=project_id,
        name=checked["name"],
        goal=checked.get("goal") or "",
        start_date=checked.get("start_date"),
        end_date=checked.get("end_date"),
        state=SprintState.PLANNED,
        created_at=now,
    )
    return _check_dates(sprint)


def changed_sprint(sprint: Sprint, changes: Mapping[str, Any]) -> Sprint:
    if sprint.state is SprintState.COMPLETED:
        raise Conflict(f"sprint {sprint.name!r} is completed and cannot change")
    checked = _checked(changes)
    if "name" in checked and checked["name"] is None:
        raise InvalidInput.field("name", "may not be null")
    return _check_dates(dataclasses.replace(sprint, **checked))


def started(sprint: Sprint, others: Iterable[Sprint], *, parallel: bool, now: datetime) -> Sprint:
    """Start a planned sprint; one active sprint per project unless `parallel`."""
    if sprint.state is not SprintState.PLANNED:
        raise Conflict(f"sprint {sprint.name!r} is {sprint.state.value}, not planned")
    active = [s for s in others if s.state is SprintState.ACTIVE and s.id != sprint.id]
    if active and not parallel:
        raise Conflict(f"sprint {active[0].name!r} is already active in this project")
    return dataclasses.replace(sprint, state=SprintState.ACTIVE, started_at=now)


def completed(sprint: Sprint, *, now: datetime) -> Sprint:
    if sprint.state is not SprintState.ACTIVE:
        raise Conflict(f"sprint {sprint.name!r} is {sprint.state.value}, not active")
    return dataclasses.replace(sprint, state=SprintState.COMPLETED, completed_at=now)


def accepts_tasks(sprint: Sprint) -> None:
    """Tasks may join or leave a planned or active sprint, never a completed one."""
    if sprint.state is SprintState.COMPLETED:
        raise InvalidInput.field("sprint_id", f"sprint {sprint.name!r} is completed")


def next_planned(sprints: Iterable[Sprint], after: Sprint) -> Sprint | None:
    """The planned sprint that follows `after`: earliest start date, then creation."""
    planned = [s for s in sprints if s.state is SprintState.PLANNED and s.id != after.id]
    planned.sort(key=lambda s: (s.start_date or date.max, s.created_at))
    return planned[0] if planned else None
