"""Stored first responses of idempotent requests handled outside a grain.

(Grain writes record theirs inside the group commit: `storage.project_store`.)
Functions take an open connection and never commit: the reply is stored in the
same transaction as the change it describes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.commands import IdempotencyKey, Reply
from domain.errors import InvalidInput
from storage import tables as t


async def stored_reply(conn: AsyncConnection, key: IdempotencyKey) -> Reply | None:
    """The first reply under `key`, or None. Raises InvalidInput when the key was
    used with another request. Locks the key's row until the caller commits, so a
    concurrent retry waits for the first request's outcome."""
    c = t.idempotency_keys.c
    row = (
        await conn.execute(
            select(c.request_hash, c.status_code, c.response)
            .where(c.org_id == key.org_id, c.user_id == key.user_id, c.key == key.key)
            .with_for_update()
        )
    ).one_or_none()
    if row is None:
        return None
    if row.request_hash != key.request_hash:
        raise InvalidInput("Idempotency-Key was already used with a different request body")
    return Reply(status=row.status_code, body=row.response, replayed=True)


async def store_reply(
    conn: AsyncConnection, key: IdempotencyKey, *, status: int, body: dict[str, Any] | None
) -> None:
    """Record the reply. A concurrent first use of the same key makes this raise
    IntegrityError, rolling the caller's change back."""
    await conn.execute(
        insert(t.idempotency_keys).values(
            org_id=key.org_id,
            user_id=key.user_id,
            key=key.key,
            request_hash=key.request_hash,
            status_code=status,
            response=body,
        )
    )
