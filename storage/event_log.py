"""Reads of the event log (the outbox): what a resuming subscriber missed.

Events are gap-free and commit-ordered per project, so "everything after
version v" is a plain range scan on the primary key.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import tables as t


async def project_version(engine: AsyncEngine, project_id: UUID) -> int | None:
    """The project's committed version, or None if it does not exist or was deleted."""
    async with engine.connect() as conn:
        version: int | None = await conn.scalar(
            select(t.projects.c.version).where(
                t.projects.c.id == project_id, t.projects.c.deleted_at.is_(None)
            )
        )
    return version


async def events_after(
    engine: AsyncEngine, project_id: UUID, after: int, *, limit: int, until: int | None = None
) -> list[dict[str, Any]]:
    """Up to `limit` events with `after < version [<= until]`, oldest first, in the
    shape `domain.events.Event.as_json` gives live events."""
    e = t.events.c
    query = select(e.version, e.type, e.actor_id, e.task_id, e.payload, e.created_at).where(
        e.project_id == project_id, e.version > after
    )
    if until is not None:
        query = query.where(e.version <= until)
    async with engine.connect() as conn:
        rows = await conn.execute(query.order_by(e.version).limit(limit))
        return [
            {
                "project_id": str(project_id),
                "version": r.version,
                "event": r.type,
                "actor_id": str(r.actor_id),
                "task_id": str(r.task_id) if r.task_id else None,
                "payload": r.payload,
                "created_at": r.created_at.isoformat(),
            }
            for r in rows
        ]
