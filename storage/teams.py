"""Teams of an organisation and their members.

Functions take an open connection and never commit. Every query is scoped by
`org_id`, so a team id of another organisation reads as missing.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import array_agg
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t

_MEMBER_IDS = (
    select(func.coalesce(array_agg(t.team_members.c.user_id), []))  # type: ignore[no-untyped-call]
    .where(t.team_members.c.team_id == t.teams.c.id)
    .scalar_subquery()
    .label("member_ids")
)


def _team(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "member_ids": sorted(str(u) for u in row.member_ids),
        "created_at": row.created_at.isoformat(),
    }


async def list_teams(conn: AsyncConnection, *, org_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(t.teams, _MEMBER_IDS).where(t.teams.c.org_id == org_id).order_by(t.teams.c.name)
    )
    return [_team(r) for r in rows]


async def get_team(conn: AsyncConnection, *, org_id: UUID, team_id: UUID) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            select(t.teams, _MEMBER_IDS).where(t.teams.c.org_id == org_id, t.teams.c.id == team_id)
        )
    ).one_or_none()
    return None if row is None else _team(row)


async def create_team(conn: AsyncConnection, *, org_id: UUID, name: str) -> UUID:
    """Raises IntegrityError when the name is taken in the organisation."""
    team_id = uuid4()
    await conn.execute(insert(t.teams).values(id=team_id, org_id=org_id, name=name))
    return team_id


async def rename_team(conn: AsyncConnection, *, org_id: UUID, team_id: UUID, name: str) -> bool:
    result = await conn.execute(
        update(t.teams).where(t.teams.c.org_id == org_id, t.teams.c.id == team_id).values(name=name)
    )
    return bool(result.rowcount)


async def delete_team(conn: AsyncConnection, *, org_id: UUID, team_id: UUID) -> bool:
    """Delete the team; its memberships and project grants go with it (cascade)."""
    result = await conn.execute(
        delete(t.teams).where(t.teams.c.org_id == org_id, t.teams.c.id == team_id)
    )
    return bool(result.rowcount)


async def add_team_member(
    conn: AsyncConnection, *, org_id: UUID, team_id: UUID, user_id: UUID
) -> bool:
    """Add the user to the team; False when already in it."""
    result = await conn.execute(
        pg_insert(t.team_members)
        .values(org_id=org_id, team_id=team_id, user_id=user_id)
        .on_conflict_do_nothing()
    )
    return bool(result.rowcount)


async def remove_team_member(
    conn: AsyncConnection, *, org_id: UUID, team_id: UUID, user_id: UUID
) -> bool:
    result = await conn.execute(
        delete(t.team_members).where(
            t.team_members.c.org_id == org_id,
            t.team_members.c.team_id == team_id,
            t.team_members.c.user_id == user_id,
        )
    )
    return bool(result.rowcount)


async def team_member_ids(conn: AsyncConnection, *, org_id: UUID, team_id: UUID) -> list[UUID]:
    rows = await conn.scalars(
        select(t.team_members.c.user_id).where(
            t.team_members.c.org_id == org_id, t.team_members.c.team_id == team_id
        )
    )
    return list(rows)
