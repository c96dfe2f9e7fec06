"""Refresh-token rotation, personal API tokens, password changes and the per-user
state every authentication checks.

Functions take an open connection and never commit: the request handler owns the
transaction, so a rotation (old token used, new one stored, audit row) or a
password change (hash, `tokens_valid_after`, refresh tokens revoked) lands whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t


@dataclass(frozen=True, slots=True)
class UserStanding:
    """What authenticating a user in an organisation needs: that they are an active
    member, and the instant before which their access tokens are void."""

    role: str
    tokens_valid_after: datetime | None


async def user_standing(
    conn: AsyncConnection, *, user_id: UUID, org_id: UUID
) -> UserStanding | None:
    """None when the user is gone, deactivated, or not a member of the organisation."""
    row = (
        await conn.execute(
            select(t.org_members.c.role, t.users.c.tokens_valid_after)
            .join(t.org_members, t.org_members.c.user_id == t.users.c.id)
            .where(t.users.c.id == user_id, t.org_members.c.org_id == org_id, t.users.c.is_active)
        )
    ).one_or_none()
    return None if row is None else UserStanding(row.role, row.tokens_valid_after)


# -- refresh tokens ------------------------------------------------------------------


async def claim_refresh_token(conn: AsyncConnection, token_hash: str) -> Any | None:
    """The refresh token row with this hash, locked (`FOR UPDATE`) so two concurrent
    uses of one token are serialised: the second sees `used_at` set."""
    return (
        await conn.execute(
            select(t.refresh_tokens)
            .where(t.refresh_tokens.c.token_hash == token_hash)
            .with_for_update()
        )
    ).one_or_none()


async def mark_refresh_used(conn: AsyncConnection, token_id: UUID, *, now: datetime) -> None:
    await conn.execute(
        update(t.refresh_tokens).where(t.refresh_tokens.c.id == token_id).values(used_at=now)
    )


async def revoke_family(conn: AsyncConnection, family_id: UUID, *, now: datetime) -> int:
    """Revoke every live token of a rotation family; returns how many were live."""
    result = await conn.execute(
        update(t.refresh_tokens)
        .where(t.refresh_tokens.c.family_id == family_id, t.refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)


async def revoke_user_refresh_tokens(conn: AsyncConnection, user_id: UUID, *, now: datetime) -> int:
    result = await conn.execute(
        update(t.refresh_tokens)
        .where(t.refresh_tokens.c.user_id == user_id, t.refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)


# -- passwords ------------------------------------------------------------------------


async def password_hash(conn: AsyncConnection, user_id: UUID) -> str | None:
    """The stored hash, locked so concurrent password changes serialise."""
    value: str | None = await conn.scalar(
        select(t.users.c.password_hash)
        .where(t.users.c.id == user_id, t.users.c.is_active)
        .with_for_update()
    )
    return value


async def set_password(
    conn: AsyncConnection, user_id: UUID, *, password_hash: str, tokens_valid_after: datetime
) -> None:
    """Store a new hash and void every access token issued before `tokens_valid_after`."""
    await conn.execute(
        update(t.users)
        .where(t.users.c.id == user_id)
        .values(password_hash=password_hash, tokens_valid_after=tokens_valid_after)
    )


# -- personal API tokens ------------------------------------------------------------


async def create_api_token(
    conn: AsyncConnection,
    *,
    user_id: UUID,
    org_id: UUID,
    name: str,
    token_hash: str,
    prefix: str,
    scopes: Sequence[str],
    expires_at: datetime | None,
) -> Any:
    row = (
        await conn.execute(
            insert(t.api_tokens)
            .values(
                id=uuid4(),
                user_id=user_id,
                org_id=org_id,
                name=name,
                token_hash=token_hash,
                prefix=prefix,
                scopes=scopes,
                expires_at=expires_at,
            )
            .returning(*_PUBLIC_COLUMNS)
        )
    ).one()
    return row


_PUBLIC_COLUMNS = (
    t.api_tokens.c.id,
    t.api_tokens.c.name,
    t.api_tokens.c.prefix,
    t.api_tokens.c.scopes,
    t.api_tokens.c.expires_at,
    t.api_tokens.c.created_at,
)


async def list_api_tokens(conn: AsyncConnection, *, user_id: UUID, org_id: UUID) -> list[Any]:
    """The user's live tokens in this organisation, newest first; never the hashes."""
    rows = await conn.execute(
        select(*_PUBLIC_COLUMNS)
        .where(
            t.api_tokens.c.user_id == user_id,
            t.api_tokens.c.org_id == org_id,
            t.api_tokens.c.revoked_at.is_(None),
        )
        .order_by(t.api_tokens.c.created_at.desc(), t.api_tokens.c.id)
    )
    return list(rows)


async def revoke_api_token(
    conn: AsyncConnection, *, token_id: UUID, user_id: UUID, org_id: UUID
) -> str | None:
    """Delete the caller's token; its hash (so caches can forget it), None if not theirs.

    Deleted rather than flagged: a revoked token has no further use, and the audit
    row keeps the record.
    """
    hash_: str | None = await conn.scalar(
        delete(t.api_tokens)
        .where(
            t.api_tokens.c.id == token_id,
            t.api_tokens.c.user_id == user_id,
            t.api_tokens.c.org_id == org_id,
        )
        .returning(t.api_tokens.c.token_hash)
    )
    return hash_


@dataclass(frozen=True, slots=True)
class ApiTokenGrant:
    """A live API token as authentication sees it."""

    token_id: UUID
    user_id: UUID
    org_id: UUID
    scopes: frozenset[str]
    expires_at: datetime | None


async def find_api_token(conn: AsyncConnection, token_hash: str) -> ApiTokenGrant | None:
    """The unrevoked token with this hash whose user is active and still a member of
    the token's organisation; None otherwise. Expiry is left to the caller."""
    a = t.api_tokens
    row = (
        await conn.execute(
            select(a.c.id, a.c.user_id, a.c.org_id, a.c.scopes, a.c.expires_at)
            .join(t.users, t.users.c.id == a.c.user_id)
            .join(
                t.org_members,
                (t.org_members.c.user_id == a.c.user_id) & (t.org_members.c.org_id == a.c.org_id),
            )
            .where(a.c.token_hash == token_hash, a.c.revoked_at.is_(None), t.users.c.is_active)
        )
    ).one_or_none()
    if row is None:
        return None
    return ApiTokenGrant(row.id, row.user_id, row.org_id, frozenset(row.scopes), row.expires_at)
