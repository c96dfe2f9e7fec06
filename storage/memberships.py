"""Who belongs where: organisation members and their roles, project roles granted
to users and teams, project visibility, and the grants an access check needs.

Functions take an open connection and never commit: the request handler owns the
transaction, so a role change and its audit row land together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy import delete, func, literal, select, union_all, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.permissions import Grants, OrgRole, ProjectFacts, ProjectRole, Visibility
from storage import tables as t

# -- what an access check needs ------------------------------------------------------


async def load_grants(conn: AsyncConnection, *, org_id: UUID, user_id: UUID) -> Grants:
    """The user's organisation role, teams, and project roles (direct and through
    teams) in one round trip."""
    om, pm, pt, tm = t.org_members.c, t.project_members.c, t.project_teams.c, t.team_members.c
    query = union_all(
        select(literal("org").label("kind"), literal(None).label("ref"), om.role).where(
            om.org_id == org_id, om.user_id == user_id
        ),
        select(literal("direct"), pm.project_id, pm.role).where(
            pm.org_id == org_id, pm.user_id == user_id
        ),
        select(literal("team"), pt.project_id, pt.role)
        .join(t.team_members, tm.team_id == pt.team_id)
        .where(tm.org_id == org_id, tm.user_id == user_id, pt.org_id == org_id),
        select(literal("in_team"), tm.team_id, literal(None)).where(
            tm.org_id == org_id, tm.user_id == user_id
        ),
    )
    org_role: OrgRole | None = None
    direct: dict[UUID, ProjectRole] = {}
    via_teams: dict[UUID, ProjectRole] = {}
    teams: list[UUID] = []
    for kind, ref, role in await conn.execute(query):
        if kind == "org":
            org_role = OrgRole(role)
        elif kind == "direct":
            direct[ref] = ProjectRole(role)
        elif kind == "team":
            current = via_teams.get(ref)
            if current is None or _stronger(ProjectRole(role), current):
                via_teams[ref] = ProjectRole(role)
        else:
            teams.append(ref)
    return Grants(user_id, org_role, direct, via_teams, tuple(sorted(teams, key=str)))


def _stronger(a: ProjectRole, b: ProjectRole) -> bool:
    order = (ProjectRole.VIEWER, ProjectRole.MEMBER, ProjectRole.ADMIN)
    return order.index(a) > order.index(b)


def _facts(row: Any) -> ProjectFacts:
    return ProjectFacts(id=row.id, owner_id=row.owner_id, visibility=Visibility(row.visibility))


async def project_facts(
    conn: AsyncConnection, *, org_id: UUID, project_id: UUID
) -> ProjectFacts | None:
    """Owner and visibility of a live project of `org_id`, None if there is none."""
    p = t.projects.c
    row = (
        await conn.execute(
            select(p.id, p.owner_id, p.visibility).where(
                p.id == project_id, p.org_id == org_id, p.deleted_at.is_(None)
            )
        )
    ).one_or_none()
    return None if row is None else _facts(row)


async def catalog_version(conn: asyncpg.Connection, *, org_id: UUID) -> int | None:
    """The organisation's catalog version (migration 0016): it changes whenever
    `org_project_facts` would answer differently. None for an unknown org.

    On the driver's connection (`storage.db.driver_connection`): search, task lists
    and the inbox read it on every request."""
    value = await conn.fetchval("SELECT catalog_version FROM orgs WHERE id = $1", org_id)
    return None if value is None else int(value)


async def org_project_facts(conn: AsyncConnection, *, org_id: UUID) -> list[ProjectFacts]:
    """Owner and visibility of every live project of the organisation."""
    p = t.projects.c
    rows = await conn.execute(
        select(p.id, p.owner_id, p.visibility)
        .where(p.org_id == org_id, p.deleted_at.is_(None))
        .order_by(p.created_at, p.id)
    )
    return [_facts(r) for r in rows]


async def set_visibility(
    conn: AsyncConnection, *, org_id: UUID, project_id: UUID, visibility: Visibility
) -> None:
    await conn.execute(
        update(t.projects)
        .where(t.projects.c.id == project_id, t.projects.c.org_id == org_id)
        .values(visibility=visibility.value)
    )


async def visibilities(
    conn: AsyncConnection, *, org_id: UUID, project_ids: Sequence[UUID]
) -> dict[UUID, str]:
    rows = await conn.execute(
        select(t.projects.c.id, t.projects.c.visibility).where(
            t.projects.c.org_id == org_id, t.projects.c.id.in_(list(project_ids))
        )
    )
    return {r.id: r.visibility for r in rows}


# -- organisation members ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    user_id: UUID
    email: str
    name: str
    role: str
    joined_at: Any

    def as_json(self) -> dict[str, Any]:
        return {
            "user_id": str(self.user_id),
            "email": self.email,
            "name": self.name,
            "role": self.role,
            "joined_at": self.joined_at.isoformat(),
        }


_MEMBER_COLUMNS = (
    t.users.c.id,
    t.users.c.email,
    t.users.c.name,
    t.org_members.c.role,
    t.org_members.c.created_at,
)


async def list_members(conn: AsyncConnection, *, org_id: UUID) -> list[Member]:
    rows = await conn.execute(
        select(*_MEMBER_COLUMNS)
        .join(t.org_members, t.org_members.c.user_id == t.users.c.id)
        .where(t.org_members.c.org_id == org_id)
        .order_by(t.org_members.c.created_at, t.users.c.id)
    )
    return [Member(*r) for r in rows]


async def get_member(conn: AsyncConnection, *, org_id: UUID, user_id: UUID) -> Member | None:
    row = (
        await conn.execute(
            select(*_MEMBER_COLUMNS)
            .join(t.org_members, t.org_members.c.user_id == t.users.c.id)
            .where(t.org_members.c.org_id == org_id, t.users.c.id == user_id)
        )
    ).one_or_none()
    return None if row is None else Member(*row)


async def lock_owners(conn: AsyncConnection, *, org_id: UUID) -> list[UUID]:
    """The organisation's owners, locked (`FOR UPDATE`) so two concurrent demotions
    cannot both see another owner left."""
    rows = await conn.scalars(
        select(t.org_members.c.user_id)
        .where(t.org_members.c.org_id == org_id, t.org_members.c.role == OrgRole.OWNER.value)
        .with_for_update()
    )
    return list(rows)


async def set_member_role(conn: AsyncConnection, *, org_id: UUID, user_id: UUID, role: str) -> None:
    await conn.execute(
        update(t.org_members)
        .where(t.org_members.c.org_id == org_id, t.org_members.c.user_id == user_id)
        .values(role=role)
    )


async def add_member(conn: AsyncConnection, *, org_id: UUID, user_id: UUID, role: str) -> bool:
    """Add the user to the organisation; False when they already were a member."""
    result = await conn.execute(
        pg_insert(t.org_members)
        .values(org_id=org_id, user_id=user_id, role=role)
        .on_conflict_do_nothing()
    )
    return bool(result.rowcount)


async def remove_member(conn: AsyncConnection, *, org_id: UUID, user_id: UUID) -> None:
    """Remove the user from the organisation with everything that gave them access:
    team memberships, project roles and their sessions in this organisation."""
    await conn.execute(
        delete(t.team_members).where(
            t.team_members.c.org_id == org_id, t.team_members.c.user_id == user_id
        )
    )
    await conn.execute(
        delete(t.project_members).where(
            t.project_members.c.org_id == org_id, t.project_members.c.user_id == user_id
        )
    )
    await conn.execute(
        update(t.refresh_tokens)
        .where(
            t.refresh_tokens.c.org_id == org_id,
            t.refresh_tokens.c.user_id == user_id,
            t.refresh_tokens.c.revoked_at.is_(None),
        )
        .values(revoked_at=func.now())
    )
    await conn.execute(
        update(t.api_tokens)
        .where(
            t.api_tokens.c.org_id == org_id,
            t.api_tokens.c.user_id == user_id,
            t.api_tokens.c.revoked_at.is_(None),
        )
        .values(revoked_at=func.now())
    )
    await conn.execute(
        delete(t.org_members).where(
            t.org_members.c.org_id == org_id, t.org_members.c.user_id == user_id
        )
    )


async def user_orgs(conn: AsyncConnection, *, user_id: UUID) -> list[dict[str, Any]]:
    """Every organisation the user belongs to, with their role, oldest first."""
    rows = await conn.execute(
        select(t.orgs.c.id, t.orgs.c.name, t.org_members.c.role)
        .join(t.org_members, t.org_members.c.org_id == t.orgs.c.id)
        .where(t.org_members.c.user_id == user_id)
        .order_by(t.org_members.c.created_at, t.orgs.c.id)
    )
    return [{"id": str(r.id), "name": r.name, "role": r.role} for r in rows]


# -- project roles -------------------------------------------------------------------


async def project_members(conn: AsyncConnection, *, project_id: UUID) -> list[dict[str, Any]]:
    """Direct grants of a project, with the users' names."""
    pm = t.project_members.c
    rows = await conn.execute(
        select(pm.user_id, pm.role, t.users.c.email, t.users.c.name)
        .join(t.users, t.users.c.id == pm.user_id)
        .where(pm.project_id == project_id)
        .order_by(t.users.c.email)
    )
    return [
        {"user_id": str(r.user_id), "role": r.role, "email": r.email, "name": r.name} for r in rows
    ]


async def project_teams(conn: AsyncConnection, *, project_id: UUID) -> list[dict[str, Any]]:
    pt = t.project_teams.c
    rows = await conn.execute(
        select(pt.team_id, pt.role, t.teams.c.name)
        .join(t.teams, t.teams.c.id == pt.team_id)
        .where(pt.project_id == project_id)
        .order_by(t.teams.c.name)
    )
    return [{"team_id": str(r.team_id), "role": r.role, "name": r.name} for r in rows]


async def project_member_role(
    conn: AsyncConnection, *, project_id: UUID, user_id: UUID
) -> str | None:
    role: str | None = await conn.scalar(
        select(t.project_members.c.role).where(
            t.project_members.c.project_id == project_id,
            t.project_members.c.user_id == user_id,
        )
    )
    return role


async def grant_project_role(
    conn: AsyncConnection, *, org_id: UUID, project_id: UUID, user_id: UUID, role: ProjectRole
) -> None:
    """Grant or change the user's direct role in the project."""
    stmt = pg_insert(t.project_members).values(
        org_id=org_id, project_id=project_id, user_id=user_id, role=role.value
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["project_id", "user_id"], set_={"role": stmt.excluded.role}
        )
    )


async def revoke_project_role(conn: AsyncConnection, *, project_id: UUID, user_id: UUID) -> bool:
    result = await conn.execute(
        delete(t.project_members).where(
            t.project_members.c.project_id == project_id, t.project_members.c.user_id == user_id
        )
    )
    return bool(result.rowcount)


async def set_team_project_role(
    conn: AsyncConnection, *, project_id: UUID, team_id: UUID, role: ProjectRole
) -> bool:
    """Change the role a linked team has in the project; False if it is not linked."""
    result = await conn.execute(
        update(t.project_teams)
        .where(t.project_teams.c.project_id == project_id, t.project_teams.c.team_id == team_id)
        .values(role=role.value)
    )
    return bool(result.rowcount)
