"""Webhooks and their delivery log.

Functions take an open connection and never commit. Hooks are always looked up
with their `org_id`, so another organisation's hook is simply not found.

A delivery is claimed by pushing its `next_attempt_at` a lease into the future
in a short transaction; the HTTP call happens outside any transaction, and its
outcome is recorded in another. A sender that dies mid-call leaves the delivery
to be tried again when the lease ends: at least once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import delete, func, or_, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t

w = t.webhooks.c
d = t.webhook_deliveries.c


def hook_json(row: Any) -> dict[str, Any]:
    """The public form of a hook (never its secret)."""
    return {
        "id": str(row.id),
        "project_id": str(row.project_id) if row.project_id else None,
        "url": row.url,
        "events": list(row.events),
        "description": row.description,
        "active": row.active,
        "consecutive_failures": row.consecutive_failures,
        "disabled_reason": row.disabled_reason,
        "created_by": str(row.created_by) if row.created_by else None,
        "created_at": row.created_at.isoformat(),
    }


def delivery_json(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "event_type": row.event_type,
        "project_id": str(row.project_id) if row.project_id else None,
        "version": row.version,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at.isoformat() if row.next_attempt_at else None,
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "created_at": row.created_at.isoformat(),
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
    }


# -- hooks ---------------------------------------------------------------------------


async def create(conn: AsyncConnection, **values: Any) -> Any:
    row = await conn.execute(
        t.webhooks.insert().values(id=uuid4(), **values).returning(*t.webhooks.c)
    )
    return row.one()


async def get(conn: AsyncConnection, *, org_id: UUID, hook_id: UUID) -> Any | None:
    row = await conn.execute(select(t.webhooks).where(w.id == hook_id, w.org_id == org_id))
    return row.one_or_none()


async def list_hooks(
    conn: AsyncConnection, *, org_id: UUID, project_ids: Sequence[UUID] | None
) -> list[Any]:
    """The organisation's hooks, oldest first; with `project_ids`, only those
    projects' hooks (organisation-wide ones are for org admins)."""
    query = select(t.webhooks).where(w.org_id == org_id)
    if project_ids is not None:
        query = query.where(w.project_id.in_(project_ids))
    rows = await conn.execute(query.order_by(w.created_at, w.id))
    return list(rows)


async def update_hook(
    conn: AsyncConnection, *, org_id: UUID, hook_id: UUID, values: dict[str, Any]
) -> Any | None:
    if values.get("active") is True:  # switched back on: a fresh start
        values = {**values, "consecutive_failures": 0, "disabled_reason": None}
    row = await conn.execute(
        update(t.webhooks)
        .where(w.id == hook_id, w.org_id == org_id)
        .values(**values)
        .returning(*t.webhooks.c)
    )
    return row.one_or_none()


async def delete_hook(conn: AsyncConnection, *, org_id: UUID, hook_id: UUID) -> bool:
    result = await conn.execute(
        delete(t.webhooks).where(w.id == hook_id, w.org_id == org_id).returning(w.id)
    )
    return result.first() is not None


async def hooks_for(conn: AsyncConnection, *, org_id: UUID, project_id: UUID) -> list[Any]:
    """Active hooks that hear about `project_id`: its own and the organisation's."""
    rows = await conn.execute(
        select(t.webhooks).where(
            w.org_id == org_id,
            w.active,
            or_(w.project_id.is_(None), w.project_id == project_id),
        )
    )
    return list(rows)


async def projects_with_hooks(conn: AsyncConnection, projects: Mapping[UUID, UUID]) -> set[UUID]:
    """Of `projects` (project id → its organisation), those `hooks_for` finds any
    hook for, in one statement whatever their number (the relay asks once per pass)."""
    if not projects:
        return set()
    rows = await conn.scalars(
        _WITH_HOOKS, {"projects": list(projects), "orgs": list(projects.values())}
    )
    return set(rows)


_WITH_HOOKS = text(
    "SELECT p.id AS project_id"
    " FROM unnest(CAST(:projects AS uuid[]), CAST(:orgs AS uuid[])) AS p(id, org_id)"
    " WHERE EXISTS (SELECT 1 FROM webhooks w WHERE w.org_id = p.org_id AND w.active"
    " AND (w.project_id IS NULL OR w.project_id = p.id))"
).columns(w.project_id)


# -- deliveries ----------------------------------------------------------------------


async def enqueue(conn: AsyncConnection, rows: list[dict[str, Any]]) -> int:
    """Queue deliveries; an event already queued for a hook is skipped (replays)."""
    if not rows:
        return 0
    result = await conn.execute(
        pg_insert(t.webhook_deliveries)
        .on_conflict_do_nothing(constraint="webhook_deliveries_event_key")
        .returning(d.id),
        rows,
    )
    return len(result.all())


async def queue_ping(
    conn: AsyncConnection, hook: Any, payload: dict[str, Any], now: datetime
) -> Any:
    row = await conn.execute(
        t.webhook_deliveries.insert()
        .values(
            id=payload["id"],
            webhook_id=hook.id,
            org_id=hook.org_id,
            event_type=payload["type"],
            payload=payload,
            next_attempt_at=now,
        )
        .returning(*t.webhook_deliveries.c)
    )
    return row.one()


@dataclass(frozen=True, slots=True)
class Claimed:
    id: UUID
    webhook_id: UUID
    url: str
    secret: str
    event_type: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


async def claim_due(
    conn: AsyncConnection, *, now: datetime, lease_until: datetime, limit: int
) -> list[Claimed]:
    """Due pending deliveries of active hooks, leased until `lease_until`."""
    due = (
        select(d.id)
        .join(t.webhooks, w.id == d.webhook_id)
        .where(d.status == "pending", d.next_attempt_at <= now, w.active)
        .order_by(d.next_attempt_at)
        .limit(limit)
        .with_for_update(of=t.webhook_deliveries, skip_locked=True)
    )
    ids = list(await conn.scalars(due))
    if not ids:
        return []
    await conn.execute(
        update(t.webhook_deliveries)
        .where(d.id.in_(ids))
        .values(next_attempt_at=lease_until, attempts=d.attempts + 1)
    )
    rows = await conn.execute(
        select(
            d.id, d.webhook_id, w.url, w.secret, d.event_type, d.payload, d.attempts, d.created_at
        )
        .join(t.webhooks, w.id == d.webhook_id)
        .where(d.id.in_(ids))
    )
    return [Claimed(*row) for row in rows]


async def mark_delivered(
    conn: AsyncConnection, delivery: Claimed, *, status_code: int, now: datetime
) -> None:
    await conn.execute(
        update(t.webhook_deliveries)
        .where(d.id == delivery.id)
        .values(
            status="delivered",
            last_status_code=status_code,
            last_error=None,
            next_attempt_at=None,
            finished_at=now,
        )
    )
    await conn.execute(
        update(t.webhooks).where(w.id == delivery.webhook_id).values(consecutive_failures=0)
    )


async def mark_failed(
    conn: AsyncConnection,
    delivery: Claimed,
    *,
    status_code: int | None,
    error: str,
    retry_at: datetime | None,
    now: datetime,
) -> int:
    """Record a failed attempt (retry at `retry_at`, or give up when None); the
    hook's consecutive failures after it."""
    await conn.execute(
        update(t.webhook_deliveries)
        .where(d.id == delivery.id)
        .values(
            status="pending" if retry_at else "failed",
            last_status_code=status_code,
            last_error=error[:1000],
            next_attempt_at=retry_at,
            finished_at=None if retry_at else now,
        )
    )
    failures: int = await conn.scalar(
        update(t.webhooks)
        .where(w.id == delivery.webhook_id)
        .values(consecutive_failures=w.consecutive_failures + 1)
        .returning(w.consecutive_failures)
    )
    return failures or 0


async def disable(conn: AsyncConnection, hook_id: UUID, *, reason: str) -> Any | None:
    """Switch a hook off; its row if it was on (so only one sender reports it)."""
    row = await conn.execute(
        update(t.webhooks)
        .where(w.id == hook_id, w.active)
        .values(active=False, disabled_reason=reason)
        .returning(*t.webhooks.c)
    )
    return row.one_or_none()


async def redeliver(
    conn: AsyncConnection, *, hook_id: UUID, delivery_id: UUID, now: datetime
) -> Any | None:
    """Queue a finished (or pending) delivery again, now, with its original id."""
    row = await conn.execute(
        update(t.webhook_deliveries)
        .where(d.id == delivery_id, d.webhook_id == hook_id)
        .values(status="pending", next_attempt_at=now, finished_at=None)
        .returning(*t.webhook_deliveries.c)
    )
    return row.one_or_none()


async def list_deliveries(
    conn: AsyncConnection,
    *,
    hook_id: UUID,
    before: tuple[datetime, int, UUID] | None,
    limit: int,
) -> list[Any]:
    """The delivery log of a hook, newest first (one more than `limit` when more).

    The deliveries of one relay pass share `created_at` (the transaction's time):
    among them the project's version orders the events, newest first, and a
    delivery without one (a ping) counts as version 0. `before` is the position
    `(created_at, version, id)` of the last delivery of the previous page."""
    version = func.coalesce(d.version, 0)
    query = select(t.webhook_deliveries).where(d.webhook_id == hook_id)
    if before is not None:
        query = query.where(tuple_(d.created_at, version, d.id) < tuple_(*before))
    order = (d.created_at.desc(), version.desc(), d.id.desc())
    rows = await conn.execute(query.order_by(*order).limit(limit + 1))
    return list(rows)


async def pending_count(conn: AsyncConnection) -> int:
    """Deliveries still to make (a gauge for operators)."""
    count = await conn.scalar(
        select(func.count()).select_from(t.webhook_deliveries).where(d.status == "pending")
    )
    return int(count or 0)
