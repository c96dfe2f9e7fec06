"""A task's JSON as of one of its events, folded from the events that built it.

Exact however late it runs: consumers that act on "the task when this happened"
(webhooks, automation conditions) replay the task's committed events up to the
one in hand rather than reading the row, which may have moved on since.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from domain.events import EventType


def fold_task(
    history: Iterable[tuple[str, Mapping[str, Any]]], start: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """The task after its events `(type, payload)`, oldest first, from `start`.

    Creation carries the whole task; updates carry the changed fields; a delete
    leaves nothing. Comment and attachment events do not change the task.
    """
    task = dict(start) if start is not None else None
    for event_type, payload in history:
        if event_type == EventType.TASK_CREATED:
            task = dict(payload.get("task") or {})
        elif event_type == EventType.TASK_UPDATED and task is not None:
            task.update(payload.get("changes") or {})
            if "version" in payload:
                task["version"] = payload["version"]
        elif event_type == EventType.TASK_DELETED:
            task = None
    return task


def fold_one(
    task: Mapping[str, Any] | None, event_type: str, payload: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The task after one more event (`realtime.task_folds.TaskFolds` folds with it)."""
    return fold_task([(event_type, payload)], start=task)
