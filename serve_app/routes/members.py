"""Members of the caller's organisation: list, change a role, remove.

Admins manage members and guests; only owners make or unmake owners. The last
owner can be neither demoted nor removed (409), so an organisation is never left
without someone who can manage it. Every change writes its audit row in the same
transaction.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.errors import Conflict, Forbidden, NotFound
from domain.permissions import OrgAction, OrgRole, may_assign_org_role
from serve_app.access import forget_org, org_role, require_org
from serve_app.client_address import caller_ip
from serve_app.context import Ctx, CurrentPrincipal
from serve_app.responses import json_response
from serve_app.schemas import Strict
from storage import accounts, memberships

router = APIRouter(prefix="/api/v1/members", tags=["members"])


class MemberRoleIn(Strict):
    role: Literal["owner", "admin", "member", "guest"]


@router.get("")
async def list_members(principal: CurrentPrincipal, ctx: Ctx) -> Response:
    """Everyone in the caller's organisation with their role (not for guests)."""
    await require_org(ctx, principal, OrgAction.SEE_DIRECTORY)
    async with ctx.engine.connect() as conn:
        found = await memberships.list_members(conn, org_id=principal.org_id)
    return json_response({"items": [m.as_json() for m in found]})


@router.get("/{user_id}")
async def get_member(user_id: UUID, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    await require_org(ctx, principal, OrgAction.SEE_DIRECTORY)
    async with ctx.engine.connect() as conn:
        member = await memberships.get_member(conn, org_id=principal.org_id, user_id=user_id)
    if member is None:
        raise NotFound("member not found")
    return json_response(member.as_json())


async def _keep_an_owner(conn: AsyncConnection, org_id: UUID, user_id: UUID) -> None:
    owners = await memberships.lock_owners(conn, org_id=org_id)
    if owners == [user_id]:
        raise Conflict("the organisation's last owner cannot be demoted or removed")


@router.patch("/{user_id}")
async def change_role(
    user_id: UUID, body: MemberRoleIn, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Change a member's organisation role. 403 unless the caller may (admins: not
    to or from owner); 409 for the last owner."""
    actor = await require_org(ctx, principal, OrgAction.MANAGE_MEMBERS)
    async with ctx.engine.begin() as conn:
        member = await memberships.get_member(conn, org_id=principal.org_id, user_id=user_id)
        if member is None:
            raise NotFound("member not found")
        if not may_assign_org_role(actor, current=member.role, new=body.role):
            raise Forbidden("only owners may make someone an owner or change an owner's role")
        if member.role == body.role:
            return json_response(member.as_json())
        if member.role == OrgRole.OWNER:
            await _keep_an_owner(conn, principal.org_id, user_id)
        await memberships.set_member_role(
            conn, org_id=principal.org_id, user_id=user_id, role=body.role
        )
        await accounts.audit(
            conn,
            org_id=principal.org_id,
            actor_id=principal.user_id,
            action="member.role_changed",
            target_type="user",
            target_id=str(user_id),
            client_ip=caller_ip(request),
            details={"from": member.role, "to": body.role},
        )
        updated = await memberships.get_member(conn, org_id=principal.org_id, user_id=user_id)
    forget_org(ctx, principal.org_id)
    assert updated is not None
    return json_response(updated.as_json())


@router.delete("/{user_id}", status_code=204)
async def remove_member(
    user_id: UUID, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Remove a member (or leave, when it is the caller): their team memberships,
    project roles, sessions and API tokens in this organisation end with it."""
    leaving = user_id == principal.user_id
    actor = await org_role(ctx, principal)
    async with ctx.engine.begin() as conn:
        member = await memberships.get_member(conn, org_id=principal.org_id, user_id=user_id)
        if member is None:
            raise NotFound("member not found")
        if not leaving and not may_assign_org_role(actor, current=member.role, new=None):
            raise Forbidden(f"an organisation {actor.value} may not remove this member")
        if member.role == OrgRole.OWNER:
            await _keep_an_owner(conn, principal.org_id, user_id)
        await memberships.remove_member(conn, org_id=principal.org_id, user_id=user_id)
        await accounts.audit(
            conn,
            org_id=principal.org_id,
            actor_id=principal.user_id,
            action="member.left" if leaving else "member.removed",
            target_type="user",
            target_id=str(user_id),
            client_ip=caller_ip(request),
            details={"role": member.role},
        )
    forget_org(ctx, principal.org_id)
    ctx.auth.forget_user(user_id)
    return Response(status_code=204)
