"""The durable email queue: one row per notification to send by email.

Rows are written by the notification consumer in the relay's transaction, so an
email is queued exactly when its notification is stored. The sender takes one
user's pending rows at a time with `FOR UPDATE SKIP LOCKED` — two senders never
take the same user — and records the outcome on all of them in the same
transaction. Functions never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.digest import Outcome, Queued
from storage import tables as t

q = t.email_queue.c
_PENDING = and_(q.sent_at.is_(None), q.failed_at.is_(None))


async def enqueue(
    conn: AsyncConnection, rows: Sequence[tuple[UUID, UUID, str]], *, due_at: datetime
) -> None:
    """Queue `(user_id, notification_id, to_addr)` rows, first due at `due_at`."""
    if not rows:
        return
    await conn.execute(
        insert(t.email_queue),
        [
            {
                "id": uuid4(),
                "user_id": user_id,
                "notification_id": notification_id,
                "to_addr": to_addr,
                "due_at": due_at,
                "next_attempt_at": due_at,
            }
            for user_id, notification_id, to_addr in rows
        ],
    )


async def candidate_users(conn: AsyncConnection, *, now: datetime, limit: int) -> list[UUID]:
    """Users with a pending row whose time has come. A cheap pre-filter: whether the
    user's batch is really due is decided on the locked rows (`domain.digest`)."""
    rows = await conn.scalars(
        select(q.user_id)
        .where(_PENDING, q.next_attempt_at <= now)
        .group_by(q.user_id)
        .order_by(func.min(q.next_attempt_at))
        .limit(limit)
    )
    return list(rows)


@dataclass(frozen=True, slots=True)
class PendingMail:
    """A locked pending row with what its email shows."""

    id: UUID
    to_addr: str
    attempts: int
    next_attempt_at: datetime
    kind: str
    title: str
    summary: str
    payload: dict[str, Any]
    created_at: datetime

    @property
    def queued(self) -> Queued:
        return Queued(self.attempts, self.next_attempt_at)


async def lock_pending(conn: AsyncConnection, user_id: UUID) -> list[PendingMail]:
    """Lock and return a user's pending rows, oldest first; [] if another sender has them."""
    n = t.notifications.c
    rows = await conn.execute(
        select(
            q.id,
            q.to_addr,
            q.attempts,
            q.next_attempt_at,
            n.kind,
            n.title,
            n.summary,
            n.payload,
            n.created_at,
        )
        .join(t.notifications, t.notifications.c.id == q.notification_id)
        .where(q.user_id == user_id, _PENDING)
        .order_by(n.created_at, q.id)
        .with_for_update(of=t.email_queue, skip_locked=True)
    )
    return [PendingMail(*r) for r in rows]


async def mark_sent(conn: AsyncConnection, ids: Sequence[UUID], *, now: datetime) -> UUID:
    """Record that one email carried these rows; returns its batch id."""
    batch_id = uuid4()
    await conn.execute(
        update(t.email_queue)
        .where(q.id.in_(list(ids)))
        .values(sent_at=now, batch_id=batch_id, attempts=q.attempts + 1, last_error=None)
    )
    return batch_id


async def mark_failed(
    conn: AsyncConnection, ids: Sequence[UUID], outcome: Outcome, *, error: str, now: datetime
) -> None:
    values: dict[str, Any] = {"attempts": outcome.attempts, "last_error": error[:2000]}
    if outcome.gave_up:
        values["failed_at"] = now
    else:
        values["next_attempt_at"] = outcome.next_attempt_at
    await conn.execute(update(t.email_queue).where(q.id.in_(list(ids))).values(**values))


async def drop(conn: AsyncConnection, ids: Sequence[UUID], *, reason: str, now: datetime) -> None:
    """Give up rows without sending them (the user turned email off meanwhile)."""
    await conn.execute(
        update(t.email_queue).where(q.id.in_(list(ids))).values(failed_at=now, last_error=reason)
    )
