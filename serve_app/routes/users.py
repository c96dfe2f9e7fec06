"""The caller's own account."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from domain.errors import Unauthenticated
from serve_app.context import Ctx, CurrentPrincipal
from serve_app.responses import json_response
from serve_app.schemas import MeOut
from storage import accounts

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.get("/me", response_model=MeOut)
async def me(principal: CurrentPrincipal, ctx: Ctx) -> Response:
    async with ctx.engine.connect() as conn:
        member = await accounts.membership(conn, org_id=principal.org_id, user_id=principal.user_id)
        if member is None:
            raise Unauthenticated("the token's user is no longer a member of its organisation")
        teams = await accounts.team_ids(conn, org_id=principal.org_id, user_id=principal.user_id)
    return json_response(
        {
            "id": str(member.id),
            "email": member.email,
            "name": member.name,
            "org_id": str(principal.org_id),
            "role": member.role,
            "team_ids": [str(t) for t in teams],
        }
    )
