"""Builders for domain objects used across the unit tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from domain.projects import Project
from domain.tasks import Priority, Task

T0 = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
T1 = datetime(2024, 1, 2, 3, 5, 0, tzinfo=UTC)


def make_project(**overrides: Any) -> Project:
    values: dict[str, Any] = {
        "id": uuid4(),
        "org_id": uuid4(),
        "key": "WEB",
        "name": "Web Platform",
        "description": "",
        "owner_id": uuid4(),
        "team_ids": (),
        "settings": {},
        "created_at": T0,
        "version": 7,
        "epoch": 1,
        "task_seq": 0,
    }
    values.update(overrides)
    return Project(**values)


def make_task(project: Project | None = None, number: int = 1, **overrides: Any) -> Task:
    project_id: UUID = project.id if project else uuid4()
    org_id: UUID = project.org_id if project else uuid4()
    key = project.key if project else "WEB"
    status = project.statuses[0] if project else "backlog"
    values: dict[str, Any] = {
        "id": uuid4(),
        "org_id": org_id,
        "project_id": project_id,
        "number": number,
        "key": f"{key}-{number}",
        "title": f"Task {number}",
        "description": "",
        "status": status,
        "priority": Priority.NONE,
        "assignee_id": None,
        "reporter_id": uuid4(),
        "created_at": T0,
        "updated_at": T0,
        "version": 1,
    }
    values.update(overrides)
    return Task(**values)
