"""Retention: rows kept for a while, then deleted in small batches.

Functions take an engine and commit batch by batch: each batch is its own short
transaction, so pruning never holds locks a user's request waits for.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import tables as t


async def prune_idempotency_keys(
    engine: AsyncEngine, *, older_than: timedelta, batch: int = 1000, now: datetime | None = None
) -> int:
    """Delete idempotency keys recorded before `now - older_than`; how many."""
    c = t.idempotency_keys.c
    cutoff = (now or datetime.now(UTC)) - older_than
    total = 0
    while True:
        async with engine.begin() as conn:
            # Oldest first through the created_at index; SKIP LOCKED leaves a key
            # that a retry is reading to the next pass.
            doomed = (
                select(c.org_id, c.user_id, c.key)
                .where(c.created_at < cutoff)
                .order_by(c.created_at)
                .limit(batch)
                .with_for_update(skip_locked=True)
                .cte("doomed")
            )
            result = await conn.execute(
                delete(t.idempotency_keys).where(
                    func.row(c.org_id, c.user_id, c.key).in_(
                        select(doomed.c.org_id, doomed.c.user_id, doomed.c.key)
                    )
                )
            )
        total += result.rowcount
        if result.rowcount < batch:
            return total
