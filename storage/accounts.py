"""Organisations, users, memberships, refresh tokens and the audit log.

Functions take an open connection and never commit: the caller owns the
transaction, so a signup (organisation + user + membership + token + audit row)
lands whole or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t
from storage.telemetry import REQUEST_ID


async def create_org(conn: AsyncConnection, *, name: str) -> UUID:
    org_id = uuid4()
    await conn.execute(insert(t.orgs).values(id=org_id, name=name))
    return org_id


async def create_user(conn: AsyncConnection, *, email: str, name: str, password_hash: str) -> UUID:
    """Raises sqlalchemy's IntegrityError when the email (case-insensitive) is taken."""
    user_id = uuid4()
    await conn.execute(
        insert(t.users).values(id=user_id, email=email, name=name, password_hash=password_hash)
    )
    return user_id


async def add_org_member(conn: AsyncConnection, *, org_id: UUID, user_id: UUID, role: str) -> None:
    await conn.execute(insert(t.org_members).values(org_id=org_id, user_id=user_id, role=role))


async def find_login(conn: AsyncConnection, email: str) -> Any | None:
    """The active user with this email and the organisation they log in to by default."""
    first_org = (
        select(t.org_members.c.org_id)
        .where(t.org_members.c.user_id == t.users.c.id)
        .order_by(t.org_members.c.created_at)
        .limit(1)
        .scalar_subquery()
    )
    return (
        await conn.execute(
            select(t.users.c.id, t.users.c.password_hash, first_org.label("org_id")).where(
                func.lower(t.users.c.email) == email.lower(), t.users.c.is_active
            )
        )
    ).one_or_none()


async def membership(conn: AsyncConnection, *, org_id: UUID, user_id: UUID) -> Any | None:
    """The user with their role in the organisation, or None if not a member."""
    return (
        await conn.execute(
            select(t.users.c.id, t.users.c.email, t.users.c.name, t.org_members.c.role)
            .join(t.org_members, t.org_members.c.user_id == t.users.c.id)
            .where(t.org_members.c.org_id == org_id, t.users.c.id == user_id, t.users.c.is_active)
        )
    ).one_or_none()


async def team_ids(conn: AsyncConnection, *, org_id: UUID, user_id: UUID) -> list[UUID]:
    rows = await conn.scalars(
        select(t.team_members.c.team_id).where(
            t.team_members.c.org_id == org_id, t.team_members.c.user_id == user_id
        )
    )
    return list(rows)


async def store_refresh_token(
    conn: AsyncConnection,
    *,
    user_id: UUID,
    org_id: UUID,
    token_hash: str,
    expires_at: datetime,
    family_id: UUID | None = None,
) -> None:
    """Store a refresh token: a new rotation family (a login), or the next token of
    `family_id` (a refresh)."""
    await conn.execute(
        insert(t.refresh_tokens).values(
            id=uuid4(),
            user_id=user_id,
            org_id=org_id,
            family_id=family_id or uuid4(),
            token_hash=token_hash,
            expires_at=expires_at,
        )
    )


async def audit(
    conn: AsyncConnection,
    *,
    org_id: UUID,
    actor_id: UUID | None,
    action: str,
    target_type: str | None = None,
    target_id: str | None = None,
    client_ip: str | None = None,
    request_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one audit row, in the caller's transaction. The request id defaults to
    the current request's (`storage.telemetry.REQUEST_ID`, set by the API)."""
    await conn.execute(
        insert(t.audit_log).values(
            org_id=org_id,
            actor_id=actor_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            client_ip=client_ip,
            request_id=request_id or REQUEST_ID.get() or None,
            details=details or {},
        )
    )
