"""Reads of the audit log, newest first, scoped to one organisation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t


@dataclass(frozen=True, slots=True)
class AuditQuery:
    actor_id: UUID | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None  # cursor: only rows older than this one
    limit: int = 50


async def list_audit(conn: AsyncConnection, *, org_id: UUID, query: AuditQuery) -> list[Any]:
    """Up to `limit + 1` rows (the extra one tells the caller a next page exists)."""
    a = t.audit_log.c
    stmt = select(t.audit_log).where(a.org_id == org_id)
    if query.actor_id is not None:
        stmt = stmt.where(a.actor_id == query.actor_id)
    if query.action is not None:
        stmt = stmt.where(a.action == query.action)
    if query.since is not None:
        stmt = stmt.where(a.created_at >= query.since)
    if query.until is not None:
        stmt = stmt.where(a.created_at < query.until)
    if query.before_id is not None:
        stmt = stmt.where(a.id < query.before_id)
    rows = await conn.execute(stmt.order_by(a.id.desc()).limit(query.limit + 1))
    return list(rows)
