"""Saved views: named filters, private or shared with a project or a team.

Functions take an open connection and never commit. Which views a caller may see
is decided here in SQL from the caller's readable projects and teams.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t

_V = t.saved_views.c


@dataclass(frozen=True, slots=True)
class SavedView:
    id: UUID
    org_id: UUID
    owner_id: UUID
    name: str
    query: str
    visibility: str
    project_id: UUID | None
    team_id: UUID | None
    created_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "owner_id": str(self.owner_id),
            "name": self.name,
            "query": self.query,
            "visibility": self.visibility,
            "project_id": str(self.project_id) if self.project_id else None,
            "team_id": str(self.team_id) if self.team_id else None,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def _view(row: Any) -> SavedView:
    return SavedView(
        id=row.id,
        org_id=row.org_id,
        owner_id=row.owner_id,
        name=row.name,
        query=row.query,
        visibility=row.visibility,
        project_id=row.project_id,
        team_id=row.team_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def user_teams(conn: AsyncConnection, *, org_id: UUID, user_id: UUID) -> list[UUID]:
    m = t.team_members.c
    return list(
        await conn.scalars(select(m.team_id).where(m.org_id == org_id, m.user_id == user_id))
    )


async def team_exists(conn: AsyncConnection, *, org_id: UUID, team_id: UUID) -> bool:
    found = await conn.scalar(
        select(t.teams.c.id).where(t.teams.c.org_id == org_id, t.teams.c.id == team_id)
    )
    return found is not None


def _visible(user_id: UUID, readable: Collection[UUID], teams: Collection[UUID]) -> Any:
    return or_(
        _V.owner_id == user_id,
        and_(_V.visibility == "project", _V.project_id.in_(list(readable))),
        and_(_V.visibility == "team", _V.team_id.in_(list(teams))),
    )


async def list_views(
    conn: AsyncConnection,
    *,
    org_id: UUID,
    user_id: UUID,
    readable: Collection[UUID],
    teams: Collection[UUID],
) -> list[SavedView]:
    rows = await conn.execute(
        select(t.saved_views)
        .where(_V.org_id == org_id, _visible(user_id, readable, teams))
        .order_by(_V.created_at, _V.id)
    )
    return [_view(r) for r in rows]


async def get_view(
    conn: AsyncConnection,
    *,
    org_id: UUID,
    view_id: UUID,
    user_id: UUID,
    readable: Collection[UUID],
    teams: Collection[UUID],
) -> SavedView | None:
    row = (
        await conn.execute(
            select(t.saved_views).where(
                _V.org_id == org_id, _V.id == view_id, _visible(user_id, readable, teams)
            )
        )
    ).one_or_none()
    return None if row is None else _view(row)


async def insert_view(
    conn: AsyncConnection, *, org_id: UUID, owner_id: UUID, **fields: Any
) -> SavedView:
    row = (
        await conn.execute(
            insert(t.saved_views)
            .values(id=uuid4(), org_id=org_id, owner_id=owner_id, **fields)
            .returning(*t.saved_views.c)
        )
    ).one()
    return _view(row)


async def update_view(conn: AsyncConnection, *, view_id: UUID, **fields: Any) -> SavedView:
    row = (
        await conn.execute(
            update(t.saved_views)
            .where(_V.id == view_id)
            .values(**fields, updated_at=func.now())
            .returning(*t.saved_views.c)
        )
    ).one()
    return _view(row)


async def delete_view(conn: AsyncConnection, *, view_id: UUID) -> None:
    await conn.execute(delete(t.saved_views).where(_V.id == view_id))
