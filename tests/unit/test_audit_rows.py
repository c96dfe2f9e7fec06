"""Audit rows derived from a grain's committed events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from domain.audit import audit_rows
from domain.events import Event, EventType

ORG, PROJECT, ACTOR, TASK = uuid4(), uuid4(), uuid4(), uuid4()
NOW = datetime(2026, 11, 29, tzinfo=UTC)


def _event(
    version: int, kind: EventType, payload: dict[str, Any], task: UUID | None = None
) -> Event:
    return Event(PROJECT, version, kind, ACTOR, task, payload, NOW)


def test_only_settings_changes_and_deletions_are_audited() -> None:
    events = [
        _event(1, EventType.TASK_CREATED, {"task": {}}, TASK),
        _event(2, EventType.PROJECT_UPDATED, {"project": {"name": "New", "key": "X"}}),
        _event(3, EventType.WORKFLOW_UPDATED, {"workflow": {"version": 4}, "moves": {"a": "b"}}),
        _event(4, EventType.TASK_DELETED, {"key": "X-1"}, TASK),
        _event(5, EventType.TASK_UPDATED, {"changes": {}}, TASK),
    ]
    rows = audit_rows(ORG, events)
    assert [(r["action"], r["target_id"]) for r in rows] == [
        ("project.updated", str(PROJECT)),
        ("project.workflow_updated", str(PROJECT)),
        ("task.deleted", str(TASK)),
    ]
    assert rows[0]["details"] == {"name": "New", "version": 2}
    assert rows[1]["details"] == {"workflow_version": 4, "moves": {"a": "b"}, "version": 3}
    assert rows[2]["details"]["key"] == "X-1"
    assert all(r["org_id"] == ORG and r["actor_id"] == ACTOR for r in rows)
    assert all(r["created_at"] == NOW for r in rows)
