"""The caller's own account: identity and password."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from domain.errors import InvalidInput, TooManyRequests, Unauthenticated
from serve_app.auth_schemas import PasswordChangeIn
from serve_app.client_address import caller_ip
from serve_app.context import AdminPrincipal, Ctx, CurrentPrincipal
from serve_app.responses import json_response
from serve_app.routes.auth import issue_tokens
from serve_app.schemas import MeOut, TokensOut
from serve_app.security import hash_password, verify_password
from storage import accounts, credentials, memberships

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


@router.post("/me/password", response_model=TokensOut)
async def change_password(
    body: PasswordChangeIn, request: Request, principal: AdminPrincipal, ctx: Ctx
) -> Response:
    """Change the caller's password (argon2id) and end every other session: all the
    user's refresh tokens are revoked and access tokens issued before now are
    refused (on other replicas within `auth_cache_s`, see `serve_app.authn`).
    Personal API tokens are separate credentials and stay valid.

    Returns a fresh token pair so the calling client stays logged in. A wrong
    `current_password` is 422 naming the field (not 401: the session is fine).
    """
    # A stolen access token must not become a fast password oracle: wrong current
    # passwords count like failed logins (per user) and lock out the same way.
    throttle, throttle_key = ctx.login_throttle, f"user:{principal.user_id}"
    if throttle is not None:
        wait = await throttle.locked_for(throttle_key, None)
        if wait:
            raise TooManyRequests(f"too many wrong passwords; try again in {wait} s", wait)
    new_hash = await hash_password(body.new_password)
    now = datetime.now(UTC)
    tokens: dict[str, object] | None = None
    async with ctx.engine.begin() as conn:
        stored = await credentials.password_hash(conn, principal.user_id)
        if stored is None:
            raise Unauthenticated("the token's user no longer exists")
        if await verify_password(body.current_password, stored):
            await credentials.set_password(
                conn, principal.user_id, password_hash=new_hash, tokens_valid_after=now
            )
            revoked = await credentials.revoke_user_refresh_tokens(conn, principal.user_id, now=now)
            await accounts.audit(
                conn,
                org_id=principal.org_id,
                actor_id=principal.user_id,
                action="user.password_changed",
                target_type="user",
                target_id=str(principal.user_id),
                client_ip=caller_ip(request),
                details={"refresh_tokens_revoked": revoked},
            )
            tokens = await issue_tokens(conn, ctx, principal)
    if tokens is None:
        if throttle is not None:
            await throttle.failed(throttle_key, None)
        raise InvalidInput.field("current_password", "is not the current password")
    ctx.auth.forget_user(principal.user_id)
    return json_response(tokens)


@router.get("/me/orgs")
async def my_orgs(principal: CurrentPrincipal, ctx: Ctx) -> Response:
    """Every organisation the caller belongs to, with their role there; switch with
    `POST /api/v1/auth/switch-org`."""
    async with ctx.engine.connect() as conn:
        items = await memberships.user_orgs(conn, user_id=principal.user_id)
    return json_response({"items": items, "current_org_id": str(principal.org_id)})
