"""The in-app inbox, notification preferences, and the user look-ups of delivery.

Functions take an open connection and never commit. Every inbox query is scoped
by both `org_id` and `user_id`: a notification of another user or organisation
is simply not found.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy import and_, func, or_, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.notification_prefs import Preferences, preferences_from_stored
from storage import tables as t

n = t.notifications.c


def notification_json(row: Mapping[str, Any] | asyncpg.Record) -> dict[str, Any]:
    """The public representation of a notification row (API and live push): an
    asyncpg record, or a SQLAlchemy row's `_mapping`."""
    task_id, actor_id, read_at = row["task_id"], row["actor_id"], row["read_at"]
    return {
        "id": str(row["id"]),
        "kind": row["kind"],
        "project_id": str(row["project_id"]),
        "task_id": str(task_id) if task_id else None,
        "actor_id": str(actor_id) if actor_id else None,
        "version": row["version"],
        "title": row["title"],
        "summary": row["summary"],
        "payload": row["payload"],
        "created_at": row["created_at"].isoformat(),
        "read_at": read_at.isoformat() if read_at else None,
    }


# -- writes of the notification consumer -------------------------------------------


async def insert_notifications(conn: AsyncConnection, rows: list[dict[str, Any]]) -> list[Any]:
    """Insert notifications; return only those that were new.

    A row whose `(user_id, project_id, version, kind)` exists already is an
    event delivered again, and is skipped.
    """
    if not rows:
        return []
    result = await conn.execute(
        pg_insert(t.notifications)
        .on_conflict_do_nothing(constraint="notifications_event_key")
        .returning(*t.notifications.c),
        rows,
    )
    return list(result)


@dataclass(frozen=True, slots=True)
class Recipient:
    id: UUID
    email: str
    name: str
    is_active: bool


async def users(conn: AsyncConnection, ids: Collection[UUID]) -> dict[UUID, Recipient]:
    if not ids:
        return {}
    u = t.users.c
    rows = await conn.execute(select(u.id, u.email, u.name, u.is_active).where(u.id.in_(list(ids))))
    return {r.id: Recipient(r.id, r.email, r.name, r.is_active) for r in rows}


async def members_matching(
    conn: AsyncConnection, org_id: UUID, tokens: Collection[str]
) -> list[tuple[UUID, str]]:
    """`(user_id, email)` of active members whose email, or its local part, is a token.

    Every member sharing a matched local part is returned, so that the caller
    can tell an ambiguous `@name` from an unambiguous one.
    """
    if not tokens:
        return []
    u = t.users.c
    email = func.lower(u.email)
    local = func.split_part(email, "@", 1)
    rows = await conn.execute(
        select(u.id, u.email)
        .join(t.org_members, t.org_members.c.user_id == u.id)
        .where(
            t.org_members.c.org_id == org_id,
            u.is_active,
            or_(email.in_(list(tokens)), local.in_(list(tokens))),
        )
    )
    return [(r.id, r.email) for r in rows]


# -- preferences ---------------------------------------------------------------------


async def preferences(conn: AsyncConnection, user_ids: Iterable[UUID]) -> dict[UUID, Preferences]:
    """Every requested user's preferences (the defaults for users who never chose)."""
    wanted = list(user_ids)
    found = {u: Preferences() for u in wanted}
    if not wanted:
        return found
    s = t.notification_settings.c
    rows = await conn.execute(
        select(s.user_id, s.email_enabled, s.channels).where(s.user_id.in_(wanted))
    )
    for r in rows:
        found[r.user_id] = preferences_from_stored(r.email_enabled, r.channels)
    return found


async def save_preferences(conn: AsyncConnection, user_id: UUID, prefs: Preferences) -> None:
    channels = {k.value: c.value for k, c in prefs.channels.items()}
    stmt = pg_insert(t.notification_settings).values(
        user_id=user_id, email_enabled=prefs.email_enabled, channels=channels
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["user_id"],
            set_={
                "email_enabled": stmt.excluded.email_enabled,
                "channels": stmt.excluded.channels,
                "updated_at": func.now(),
            },
        )
    )


async def disable_email(conn: AsyncConnection, user_id: UUID) -> bool:
    """Turn email off for a user; False if there is no such user."""
    exists = await conn.scalar(select(t.users.c.id).where(t.users.c.id == user_id))
    if exists is None:
        return False
    stmt = pg_insert(t.notification_settings).values(user_id=user_id, email_enabled=False)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["user_id"], set_={"email_enabled": False, "updated_at": func.now()}
        )
    )
    return True


# -- the inbox -------------------------------------------------------------------------


def _mine(org_id: UUID, user_id: UUID) -> Any:
    return and_(n.user_id == user_id, n.org_id == org_id)


def _visible(hidden: Sequence[UUID]) -> Any:
    """Not about a project in `hidden` (those the reader lost access to)."""
    return n.project_id.not_in(hidden) if hidden else true()


#: The most unread notifications an inbox counts (`UnreadCount`).
UNREAD_COUNTED_MAX = 1000

_INBOX_COLUMNS = (
    "id, org_id, user_id, project_id, version, task_id, actor_id, kind, title, summary,"
    " payload, created_at, read_at"
)


def _inbox_sql(unread_only: bool, paged: bool) -> str:
    """The inbox page joined to the unread count: one statement, one snapshot.
    `$1` user, `$2` org, `$3` hidden project ids, `$4` rows, `$5` the most
    unread ones counted; `$6`, `$7` the `(created_at, id)` the page starts below
    when `paged`."""
    return f"""
SELECT u.unread_count, r.*
FROM (
    SELECT count(*) AS unread_count FROM (
        SELECT 1 FROM notifications
        WHERE user_id = $1 AND org_id = $2 AND read_at IS NULL
          AND project_id <> ALL($3::uuid[])
        LIMIT $5
    ) AS counted
) AS u
LEFT JOIN LATERAL (
    SELECT {_INBOX_COLUMNS} FROM notifications
    WHERE user_id = $1 AND org_id = $2 AND project_id <> ALL($3::uuid[])
      {"AND read_at IS NULL" if unread_only else ""}
      {"AND (created_at, id) < ($6, $7)" if paged else ""}
    ORDER BY created_at DESC, id DESC
    LIMIT $4
) AS r ON true
ORDER BY r.created_at DESC, r.id DESC
"""  # noqa: S608 - constant fragments; every value is a parameter


_INBOX_SQL = {(u, p): _inbox_sql(u, p) for u in (False, True) for p in (False, True)}


@dataclass(frozen=True, slots=True)
class UnreadCount:
    """How many notifications are unread, counted up to a bound: an inbox
    nobody reads grows without end, and counting it all on every read would
    cost more the longer it was ignored. `more`: there are over `count`."""

    count: int
    more: bool

    @classmethod
    def of(cls, counted: int) -> UnreadCount:
        """From a count that stopped one past `UNREAD_COUNTED_MAX`."""
        return cls(min(counted, UNREAD_COUNTED_MAX), counted > UNREAD_COUNTED_MAX)


async def inbox_page(
    conn: asyncpg.Connection,
    *,
    org_id: UUID,
    user_id: UUID,
    unread_only: bool,
    before: tuple[datetime, UUID] | None,
    limit: int,
    hidden: Sequence[UUID] = (),
) -> tuple[list[asyncpg.Record], UnreadCount]:
    """A page of the inbox, newest first in `(created_at, id)` order, and the unread
    count, from one statement (one snapshot: the count and the page always agree).
    Fetches `limit + 1` rows so the caller can tell whether another page follows.
    Notifications about a project in `hidden` are left out of both.

    On the driver's connection (`storage.db.driver_connection`), with fixed SQL:
    the inbox is read far more often than it changes."""
    args: list[Any] = [user_id, org_id, list(hidden), limit + 1, UNREAD_COUNTED_MAX + 1]
    if before is not None:
        args.extend(before)
    found = await conn.fetch(_INBOX_SQL[unread_only, before is not None], *args)
    counted = int(found[0]["unread_count"]) if found else 0
    return [r for r in found if r["id"] is not None], UnreadCount.of(counted)


async def unread_count(
    conn: AsyncConnection,
    *,
    org_id: UUID,
    user_id: UUID,
    hidden: Sequence[UUID] = (),
) -> UnreadCount:
    unread = (
        select(n.id)
        .where(_mine(org_id, user_id), n.read_at.is_(None), _visible(hidden))
        .limit(UNREAD_COUNTED_MAX + 1)
        .subquery()
    )
    counted = await conn.scalar(select(func.count()).select_from(unread))
    return UnreadCount.of(int(counted or 0))


async def mark_read(
    conn: AsyncConnection, *, org_id: UUID, user_id: UUID, notification_id: UUID, now: datetime
) -> Any | None:
    """Mark one notification read (keeping the first read time); None if not the caller's."""
    await conn.execute(
        update(t.notifications)
        .where(_mine(org_id, user_id), n.id == notification_id, n.read_at.is_(None))
        .values(read_at=now)
    )
    return (
        await conn.execute(
            select(t.notifications).where(_mine(org_id, user_id), n.id == notification_id)
        )
    ).one_or_none()


async def mark_all_read(
    conn: AsyncConnection, *, org_id: UUID, user_id: UUID, now: datetime
) -> int:
    result = await conn.execute(
        update(t.notifications)
        .where(_mine(org_id, user_id), n.read_at.is_(None))
        .values(read_at=now)
    )
    return int(result.rowcount or 0)
