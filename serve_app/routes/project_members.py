"""Project roles: `/api/v1/projects/{id}/members` (users) and
`/api/v1/projects/{id}/teams/{team_id}` (the role a linked team's members get).

Anyone who can read the project sees who has which role; project admins (and so
organisation owners and admins) change them. Each change writes its audit row in
the same transaction.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.errors import Conflict, InvalidInput, NotFound
from domain.permissions import Action, ProjectRole
from serve_app.access import authorize_project, forget_org
from serve_app.client_address import caller_ip
from serve_app.context import Ctx, CurrentPrincipal
from serve_app.responses import json_response
from serve_app.schemas import Strict
from serve_app.security import Principal
from storage import accounts, catalog, memberships

router = APIRouter(prefix="/api/v1/projects/{project_id}", tags=["project members"])

RoleName = Literal["admin", "member", "viewer"]


class ProjectMemberIn(Strict):
    user_id: UUID
    role: RoleName


class ProjectRoleIn(Strict):
    role: RoleName


async def _audit(
    conn: AsyncConnection,
    principal: Principal,
    request: Request,
    action: str,
    project_id: UUID,
    **details: str,
) -> None:
    await accounts.audit(
        conn,
        org_id=principal.org_id,
        actor_id=principal.user_id,
        action=action,
        target_type="project",
        target_id=str(project_id),
        client_ip=caller_ip(request),
        details=details,
    )


@router.get("/members")
async def list_project_members(project_id: UUID, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    """Direct grants (`users`) and linked teams with their role (`teams`)."""
    await authorize_project(ctx, principal, project_id, Action.READ)
    async with ctx.engine.connect() as conn:
        users = await memberships.project_members(conn, project_id=project_id)
        teams = await memberships.project_teams(conn, project_id=project_id)
    return json_response({"users": users, "teams": teams})


@router.post("/members", status_code=201)
async def add_project_member(
    project_id: UUID,
    body: ProjectMemberIn,
    request: Request,
    principal: CurrentPrincipal,
    ctx: Ctx,
) -> Response:
    """Grant an organisation member (guests included) a role in the project; 409 if
    they already have a direct role (change it with PATCH)."""
    await authorize_project(ctx, principal, project_id, Action.MANAGE_MEMBERS)
    role = ProjectRole(body.role)
    async with ctx.engine.begin() as conn:
        if not await catalog.is_org_member(conn, org_id=principal.org_id, user_id=body.user_id):
            raise InvalidInput.field("user_id", "is not a member of this organisation")
        current = await memberships.project_member_role(
            conn, project_id=project_id, user_id=body.user_id
        )
        if current is not None:
            raise Conflict(f"the user already has the {current} role here; PATCH to change it")
        await memberships.grant_project_role(
            conn, org_id=principal.org_id, project_id=project_id, user_id=body.user_id, role=role
        )
        await _audit(
            conn,
            principal,
            request,
            "project.member_added",
            project_id,
            user_id=str(body.user_id),
            role=role.value,
        )
    forget_org(ctx, principal.org_id)
    out = {"user_id": str(body.user_id), "role": role.value}
    return json_response(out, status=201)


@router.patch("/members/{user_id}")
async def change_project_role(
    project_id: UUID,
    user_id: UUID,
    body: ProjectRoleIn,
    request: Request,
    principal: CurrentPrincipal,
    ctx: Ctx,
) -> Response:
    await authorize_project(ctx, principal, project_id, Action.MANAGE_MEMBERS)
    role = ProjectRole(body.role)
    async with ctx.engine.begin() as conn:
        current = await memberships.project_member_role(
            conn, project_id=project_id, user_id=user_id
        )
        if current is None:
            raise NotFound("project member not found")
        if current != role:
            await memberships.grant_project_role(
                conn, org_id=principal.org_id, project_id=project_id, user_id=user_id, role=role
            )
            await _audit(
                conn,
                principal,
                request,
                "project.member_role_changed",
                project_id,
                user_id=str(user_id),
                role=role.value,
            )
    forget_org(ctx, principal.org_id)
    return json_response({"user_id": str(user_id), "role": role.value})


@router.delete("/members/{user_id}", status_code=204)
async def remove_project_member(
    project_id: UUID, user_id: UUID, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Take the user's direct role away (roles through teams or the organisation stay)."""
    await authorize_project(ctx, principal, project_id, Action.MANAGE_MEMBERS)
    async with ctx.engine.begin() as conn:
        if not await memberships.revoke_project_role(conn, project_id=project_id, user_id=user_id):
            raise NotFound("project member not found")
        await _audit(
            conn, principal, request, "project.member_removed", project_id, user_id=str(user_id)
        )
    forget_org(ctx, principal.org_id)
    return Response(status_code=204)


@router.put("/teams/{team_id}")
async def set_team_role(
    project_id: UUID,
    team_id: UUID,
    body: ProjectRoleIn,
    request: Request,
    principal: CurrentPrincipal,
    ctx: Ctx,
) -> Response:
    """Set the role a linked team's members get in the project (404 if the team is
    not among the project's `team_ids`)."""
    await authorize_project(ctx, principal, project_id, Action.MANAGE_MEMBERS)
    role = ProjectRole(body.role)
    async with ctx.engine.begin() as conn:
        if not await memberships.set_team_project_role(
            conn, project_id=project_id, team_id=team_id, role=role
        ):
            raise NotFound("the team is not linked to this project")
        await _audit(
            conn,
            principal,
            request,
            "project.team_role_changed",
            project_id,
            team_id=str(team_id),
            role=role.value,
        )
    forget_org(ctx, principal.org_id)
    return json_response({"team_id": str(team_id), "role": role.value})
