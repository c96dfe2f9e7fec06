"""TOTP secrets and recovery codes of users (two-factor authentication).

Functions take an open connection and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t


@dataclass(frozen=True, slots=True)
class TotpState:
    secret: str
    enabled: bool
    last_step: int | None


async def state(conn: AsyncConnection, user_id: UUID, *, lock: bool = False) -> TotpState | None:
    """The user's TOTP setup, None if they never started one. `lock` takes the row
    (`FOR UPDATE`) so a code is accepted by one request only."""
    query = select(t.user_totp.c.secret, t.user_totp.c.enabled_at, t.user_totp.c.last_step).where(
        t.user_totp.c.user_id == user_id
    )
    row = (await conn.execute(query.with_for_update() if lock else query)).one_or_none()
    if row is None:
        return None
    return TotpState(row.secret, row.enabled_at is not None, row.last_step)


async def start(conn: AsyncConnection, user_id: UUID, secret: str) -> None:
    """Store a new, not yet confirmed secret (replacing an unconfirmed one)."""
    stmt = pg_insert(t.user_totp).values(user_id=user_id, secret=secret)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["user_id"],
            set_={"secret": stmt.excluded.secret, "enabled_at": None, "last_step": None},
        )
    )


async def enable(conn: AsyncConnection, user_id: UUID, *, now: datetime, step: int) -> None:
    await conn.execute(
        update(t.user_totp)
        .where(t.user_totp.c.user_id == user_id)
        .values(enabled_at=now, last_step=step)
    )


async def use_step(conn: AsyncConnection, user_id: UUID, step: int) -> None:
    await conn.execute(
        update(t.user_totp).where(t.user_totp.c.user_id == user_id).values(last_step=step)
    )


async def disable(conn: AsyncConnection, user_id: UUID) -> None:
    await conn.execute(delete(t.user_totp).where(t.user_totp.c.user_id == user_id))
    await conn.execute(delete(t.recovery_codes).where(t.recovery_codes.c.user_id == user_id))


async def replace_recovery_codes(
    conn: AsyncConnection, user_id: UUID, code_hashes: Sequence[str]
) -> None:
    await conn.execute(delete(t.recovery_codes).where(t.recovery_codes.c.user_id == user_id))
    await conn.execute(
        insert(t.recovery_codes), [{"user_id": user_id, "code_hash": h} for h in code_hashes]
    )


async def spend_recovery_code(
    conn: AsyncConnection, user_id: UUID, code_hash: str, *, now: datetime
) -> bool:
    """Mark an unused recovery code used; False if there is no such unused code."""
    result = await conn.execute(
        update(t.recovery_codes)
        .where(
            t.recovery_codes.c.user_id == user_id,
            t.recovery_codes.c.code_hash == code_hash,
            t.recovery_codes.c.used_at.is_(None),
        )
        .values(used_at=now)
    )
    return bool(result.rowcount)


async def recovery_codes_left(conn: AsyncConnection, user_id: UUID) -> int:
    rows = await conn.scalars(
        select(t.recovery_codes.c.code_hash).where(
            t.recovery_codes.c.user_id == user_id, t.recovery_codes.c.used_at.is_(None)
        )
    )
    return len(list(rows))
