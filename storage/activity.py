"""A task's history, read from the event log (the outbox keeps every change)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t


async def task_events(
    conn: AsyncConnection,
    *,
    org_id: UUID,
    project_id: UUID,
    task_id: UUID,
    after: int,
    limit: int,
) -> list[dict[str, Any]]:
    """Up to `limit + 1` events about the task with a version above `after`, oldest first."""
    e = t.events.c
    rows = await conn.execute(
        select(e.version, e.type, e.actor_id, e.payload, e.created_at)
        .where(
            e.org_id == org_id,
            e.project_id == project_id,
            e.task_id == task_id,
            e.version > after,
        )
        .order_by(e.version)
        .limit(limit + 1)
    )
    return [dict(r._mapping) for r in rows]


def activity_item(event: dict[str, Any]) -> dict[str, Any]:
    """One history entry: who, when, and each field's change from → to."""
    payload = event["payload"] or {}
    kind = event["type"]
    changes: list[dict[str, Any]] = []
    if kind == "task.updated":
        before = payload.get("from", {})
        changes = [
            {"field": k, "from": before.get(k), "to": v}
            for k, v in payload.get("changes", {}).items()
        ]
    elif kind == "task.created":
        task = payload.get("task", {})
        changes = [{"field": "status", "from": None, "to": task.get("status")}]
    elif kind == "sprint.scope_changed":
        changes = [{"field": "sprint", "from": None, "to": payload.get("change")}]
    return {
        "version": event["version"],
        "event": kind,
        "actor_id": str(event["actor_id"]),
        "at": event["created_at"].isoformat(),
        "changes": changes,
    }
