"""Teams of the caller's organisation and their members (`/api/v1/teams`).

Members (not guests) may list teams; owners and admins manage them. A team gets a
project role when linked to a project (the project's `team_ids`, role set by
`PUT /api/v1/projects/{id}/teams/{team_id}`); its members hold that role.
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.errors import Conflict, InvalidInput, NotFound
from domain.permissions import OrgAction
from serve_app.access import forget_org, require_org
from serve_app.client_address import caller_ip
from serve_app.context import Ctx, CurrentPrincipal
from serve_app.responses import json_response
from serve_app.schemas import Strict
from serve_app.security import Principal
from storage import accounts, catalog
from storage import teams as store

router = APIRouter(prefix="/api/v1/teams", tags=["teams"])


class TeamIn(Strict):
    name: str = Field(min_length=1, max_length=120)


def _name(raw: str) -> str:
    name = raw.strip()
    if not name:
        raise InvalidInput.field("name", "must not be blank")
    return name


async def _audit(
    conn: AsyncConnection,
    principal: Principal,
    request: Request,
    action: str,
    team_id: UUID,
    **details: object,
) -> None:
    await accounts.audit(
        conn,
        org_id=principal.org_id,
        actor_id=principal.user_id,
        action=action,
        target_type="team",
        target_id=str(team_id),
        client_ip=caller_ip(request),
        details={k: str(v) for k, v in details.items()},
    )


@router.get("")
async def list_teams(principal: CurrentPrincipal, ctx: Ctx) -> Response:
    await require_org(ctx, principal, OrgAction.SEE_DIRECTORY)
    async with ctx.engine.connect() as conn:
        items = await store.list_teams(conn, org_id=principal.org_id)
    return json_response({"items": items})


@router.post("", status_code=201)
async def create_team(
    body: TeamIn, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Create a team; 409 if the organisation has one by that name."""
    await require_org(ctx, principal, OrgAction.MANAGE_TEAMS)
    name = _name(body.name)
    try:
        async with ctx.engine.begin() as conn:
            team_id = await store.create_team(conn, org_id=principal.org_id, name=name)
            await _audit(conn, principal, request, "team.created", team_id, name=name)
            team = await store.get_team(conn, org_id=principal.org_id, team_id=team_id)
    except IntegrityError:
        raise Conflict(f"a team named {name!r} already exists") from None
    return json_response(team, status=201, headers={"Location": f"/api/v1/teams/{team_id}"})


@router.get("/{team_id}")
async def get_team(team_id: UUID, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    await require_org(ctx, principal, OrgAction.SEE_DIRECTORY)
    async with ctx.engine.connect() as conn:
        team = await store.get_team(conn, org_id=principal.org_id, team_id=team_id)
    if team is None:
        raise NotFound("team not found")
    return json_response(team)


@router.patch("/{team_id}")
async def rename_team(
    team_id: UUID, body: TeamIn, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    await require_org(ctx, principal, OrgAction.MANAGE_TEAMS)
    name = _name(body.name)
    try:
        async with ctx.engine.begin() as conn:
            if not await store.rename_team(
                conn, org_id=principal.org_id, team_id=team_id, name=name
            ):
                raise NotFound("team not found")
            await _audit(conn, principal, request, "team.renamed", team_id, name=name)
            team = await store.get_team(conn, org_id=principal.org_id, team_id=team_id)
    except IntegrityError:
        raise Conflict(f"a team named {name!r} already exists") from None
    return json_response(team)


@router.delete("/{team_id}", status_code=204)
async def delete_team(
    team_id: UUID, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Delete the team; the project roles it gave its members end with it."""
    await require_org(ctx, principal, OrgAction.MANAGE_TEAMS)
    async with ctx.engine.begin() as conn:
        if not await store.delete_team(conn, org_id=principal.org_id, team_id=team_id):
            raise NotFound("team not found")
        await _audit(conn, principal, request, "team.deleted", team_id)
    forget_org(ctx, principal.org_id)
    return Response(status_code=204)


@router.put("/{team_id}/members/{user_id}", status_code=204)
async def add_team_member(
    team_id: UUID, user_id: UUID, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Add an organisation member to the team (idempotent)."""
    await require_org(ctx, principal, OrgAction.MANAGE_TEAMS)
    async with ctx.engine.begin() as conn:
        if await store.get_team(conn, org_id=principal.org_id, team_id=team_id) is None:
            raise NotFound("team not found")
        if not await catalog.is_org_member(conn, org_id=principal.org_id, user_id=user_id):
            raise NotFound("member not found")
        if await store.add_team_member(
            conn, org_id=principal.org_id, team_id=team_id, user_id=user_id
        ):
            await _audit(conn, principal, request, "team.member_added", team_id, user_id=user_id)
    forget_org(ctx, principal.org_id)
    return Response(status_code=204)


@router.delete("/{team_id}/members/{user_id}", status_code=204)
async def remove_team_member(
    team_id: UUID, user_id: UUID, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    await require_org(ctx, principal, OrgAction.MANAGE_TEAMS)
    async with ctx.engine.begin() as conn:
        if not await store.remove_team_member(
            conn, org_id=principal.org_id, team_id=team_id, user_id=user_id
        ):
            raise NotFound("team member not found")
        await _audit(conn, principal, request, "team.member_removed", team_id, user_id=user_id)
    forget_org(ctx, principal.org_id)
    return Response(status_code=204)
