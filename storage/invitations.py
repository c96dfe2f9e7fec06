"""Invitations to join an organisation. The token is stored as SHA-256 only.

Functions take an open connection and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t


@dataclass(frozen=True, slots=True)
class Invitation:
    id: UUID
    org_id: UUID
    email: str
    role: str
    invited_by: UUID | None
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "email": self.email,
            "role": self.role,
            "invited_by": str(self.invited_by) if self.invited_by else None,
            "expires_at": self.expires_at.isoformat(),
            "accepted_at": self.accepted_at.isoformat() if self.accepted_at else None,
            "created_at": self.created_at.isoformat(),
        }


_COLUMNS = (
    t.invitations.c.id,
    t.invitations.c.org_id,
    t.invitations.c.email,
    t.invitations.c.role,
    t.invitations.c.invited_by,
    t.invitations.c.expires_at,
    t.invitations.c.accepted_at,
    t.invitations.c.revoked_at,
    t.invitations.c.created_at,
)


async def create(
    conn: AsyncConnection,
    *,
    org_id: UUID,
    email: str,
    role: str,
    token_hash: str,
    invited_by: UUID,
    expires_at: datetime,
) -> Invitation:
    row = (
        await conn.execute(
            insert(t.invitations)
            .values(
                id=uuid4(),
                org_id=org_id,
                email=email,
                role=role,
                token_hash=token_hash,
                invited_by=invited_by,
                expires_at=expires_at,
            )
            .returning(*_COLUMNS)
        )
    ).one()
    return Invitation(*row)


async def pending(conn: AsyncConnection, *, org_id: UUID, now: datetime) -> list[Invitation]:
    """Invitations not yet accepted, revoked or expired, newest first."""
    i = t.invitations.c
    rows = await conn.execute(
        select(*_COLUMNS)
        .where(
            i.org_id == org_id,
            i.accepted_at.is_(None),
            i.revoked_at.is_(None),
            i.expires_at > now,
        )
        .order_by(i.created_at.desc(), i.id)
    )
    return [Invitation(*r) for r in rows]


async def revoke(conn: AsyncConnection, *, org_id: UUID, invitation_id: UUID) -> bool:
    """Revoke a pending invitation; False if there is none by that id in the org."""
    i = t.invitations.c
    result = await conn.execute(
        update(t.invitations)
        .where(
            i.org_id == org_id,
            i.id == invitation_id,
            i.accepted_at.is_(None),
            i.revoked_at.is_(None),
        )
        .values(revoked_at=func.now())
    )
    return bool(result.rowcount)


async def claim(conn: AsyncConnection, token_hash: str) -> Invitation | None:
    """The invitation with this token, locked (`FOR UPDATE`) so it is accepted once."""
    row = (
        await conn.execute(
            select(*_COLUMNS).where(t.invitations.c.token_hash == token_hash).with_for_update()
        )
    ).one_or_none()
    return None if row is None else Invitation(*row)


async def mark_accepted(
    conn: AsyncConnection, invitation_id: UUID, *, user_id: UUID, now: datetime
) -> None:
    await conn.execute(
        update(t.invitations)
        .where(t.invitations.c.id == invitation_id)
        .values(accepted_at=now, accepted_by=user_id)
    )


async def user_by_email(conn: AsyncConnection, email: str) -> UUID | None:
    found: UUID | None = await conn.scalar(
        select(t.users.c.id).where(func.lower(t.users.c.email) == email.lower())
    )
    return found


async def org_name(conn: AsyncConnection, org_id: UUID) -> str:
    name: str | None = await conn.scalar(select(t.orgs.c.name).where(t.orgs.c.id == org_id))
    return name or "an organisation"
