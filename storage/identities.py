"""Accounts at OpenID Providers linked to users, and the lookups a single sign-on
login needs. Functions take an open connection and never commit."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t


async def linked_user(conn: AsyncConnection, *, provider: str, subject: str) -> UUID | None:
    """The active user linked to this provider account, if any."""
    i = t.user_identities.c
    found: UUID | None = await conn.scalar(
        select(i.user_id)
        .join(t.users, t.users.c.id == i.user_id)
        .where(i.provider == provider, i.subject == subject, t.users.c.is_active)
    )
    return found


async def link(conn: AsyncConnection, *, provider: str, subject: str, user_id: UUID) -> None:
    await conn.execute(
        pg_insert(t.user_identities)
        .values(provider=provider, subject=subject, user_id=user_id)
        .on_conflict_do_nothing()
    )


async def active_user_by_email(conn: AsyncConnection, email: str) -> UUID | None:
    found: UUID | None = await conn.scalar(
        select(t.users.c.id).where(
            func.lower(t.users.c.email) == email.lower(), t.users.c.is_active
        )
    )
    return found


async def first_org(conn: AsyncConnection, user_id: UUID) -> UUID | None:
    """The organisation a login lands in: the user's oldest membership."""
    found: UUID | None = await conn.scalar(
        select(t.org_members.c.org_id)
        .where(t.org_members.c.user_id == user_id)
        .order_by(t.org_members.c.created_at)
        .limit(1)
    )
    return found


async def org_exists(conn: AsyncConnection, org_id: UUID) -> bool:
    return await conn.scalar(select(t.orgs.c.id).where(t.orgs.c.id == org_id)) is not None
