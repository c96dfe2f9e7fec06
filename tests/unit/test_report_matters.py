"""Which events the reports consumer folds, and which it passes over without
touching the project's report state: skipping must never skip a change a report
shows, so every event that changes the fold's output has to count as mattering."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

from reports.fold import REPORTED_FIELDS, Fold, matters
from storage.outbox import StoredEvent

PROJECT, ORG, ACTOR, TASK = uuid4(), uuid4(), uuid4(), uuid4()
AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _event(version: int, type_: str, payload: dict[str, Any]) -> StoredEvent:
    return StoredEvent(PROJECT, version, ORG, type_, ACTOR, TASK, payload, AT)


CREATED = _event(
    1,
    "task.created",
    {"task": {"id": str(TASK), "key": "P-1", "status": "todo", "estimate": 3}},
)


def _changes(version: int, **changes: Any) -> StoredEvent:
    return _event(version, "task.updated", {"changes": changes, "from": {}})


def test_the_folded_kinds_matter_and_the_rest_do_not() -> None:
    assert matters(CREATED)
    for kind in ("task.deleted", "workflow.updated", "project.updated", "sprint.started"):
        assert matters(_event(2, kind, {})), kind
    for kind in ("comment.created", "comment.reaction_added", "tasks.reranked", "labels.updated"):
        assert not matters(_event(2, kind, {})), kind
    assert matters(_changes(2, status="done"))
    assert matters(_changes(2, title="x", estimate=5))
    assert not matters(_changes(2, title="x", priority="high", rank="a"))


def test_an_update_that_does_not_matter_changes_no_fold() -> None:
    """For every task field outside REPORTED_FIELDS, folding the update changes nothing."""
    for field in ("title", "description", "priority", "assignee_id", "labels", "rank", "due_date"):
        assert field not in REPORTED_FIELDS
        base = Fold(zone=ZoneInfo("UTC"), categories={"todo": "todo", "done": "done"})
        base.apply(CREATED)
        before = copy.deepcopy((base.tasks, base.flows, base.effects))
        base.apply(_changes(2, **{field: "changed"}))
        assert (base.tasks, base.flows, base.effects) == before, field
    moved = Fold(zone=ZoneInfo("UTC"), categories={"todo": "todo", "done": "done"})
    moved.apply(CREATED)
    before = copy.deepcopy((moved.tasks, moved.flows, moved.effects))
    moved.apply(_changes(2, status="done"))
    assert (moved.tasks, moved.flows, moved.effects) != before  # the check above can fail
