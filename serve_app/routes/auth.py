"""Sign-up and log-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.errors import Conflict, Unauthenticated
from serve_app.context import AppContext, Ctx
from serve_app.responses import json_response
from serve_app.schemas import LoginIn, SignupIn, SignupOut, TokensOut
from serve_app.security import (
    Principal,
    hash_password,
    issue_access_token,
    new_refresh_token,
    verify_password,
)
from storage import accounts

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

_LOGIN_FAILED = "email or password is wrong"


async def _tokens(
    conn: AsyncConnection, ctx: AppContext, principal: Principal
) -> dict[str, object]:
    refresh, refresh_hash = new_refresh_token()
    await accounts.store_refresh_token(
        conn,
        user_id=principal.user_id,
        org_id=principal.org_id,
        token_hash=refresh_hash,
        expires_at=datetime.now(UTC) + timedelta(seconds=ctx.config.refresh_token_ttl_s),
    )
    return {
        "access_token": issue_access_token(
            principal, secret=ctx.config.jwt_secret, ttl_s=ctx.config.access_token_ttl_s
        ),
        "refresh_token": refresh,
        "token_type": "bearer",
        "expires_in": ctx.config.access_token_ttl_s,
    }


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.post("/signup", status_code=201, response_model=SignupOut)
async def signup(body: SignupIn, request: Request, ctx: Ctx) -> Response:
    """Create a user and a new organisation they own. 409 if the email is taken."""
    password_hash = await hash_password(body.password)
    org_name = body.org_name or f"{body.name}'s organisation"
    try:
        async with ctx.engine.begin() as conn:
            org_id = await accounts.create_org(conn, name=org_name)
            user_id = await accounts.create_user(
                conn, email=str(body.email), name=body.name, password_hash=password_hash
            )
            await accounts.add_org_member(conn, org_id=org_id, user_id=user_id, role="owner")
            await accounts.audit(
                conn,
                org_id=org_id,
                actor_id=user_id,
                action="user.signup",
                target_type="user",
                target_id=str(user_id),
                client_ip=_client_ip(request),
            )
            tokens = await _tokens(conn, ctx, Principal(user_id=user_id, org_id=org_id))
    except IntegrityError:
        raise Conflict("an account with this email already exists") from None
    return json_response(
        {
            "user": {"id": str(user_id), "email": str(body.email), "name": body.name},
            "org": {"id": str(org_id), "name": org_name},
            **tokens,
        },
        status=201,
    )


@router.post("/login", response_model=TokensOut)
async def login(body: LoginIn, request: Request, ctx: Ctx) -> Response:
    """Exchange email and password for tokens. Unknown email and wrong password
    give the same 401 and take the same time."""
    async with ctx.engine.begin() as conn:
        found = await accounts.find_login(conn, body.email)
        ok = await verify_password(body.password, found.password_hash if found else None)
        if found is None or not ok or found.org_id is None:
            if found is not None and found.org_id is not None:
                await accounts.audit(
                    conn,
                    org_id=found.org_id,
                    actor_id=found.id,
                    action="auth.login_failed",
                    target_type="user",
                    target_id=str(found.id),
                    client_ip=_client_ip(request),
                )
            failed = True
        else:
            org_id: UUID = found.org_id
            await accounts.audit(
                conn,
                org_id=org_id,
                actor_id=found.id,
                action="auth.login",
                target_type="user",
                target_id=str(found.id),
                client_ip=_client_ip(request),
            )
            tokens = await _tokens(conn, ctx, Principal(user_id=found.id, org_id=org_id))
            failed = False
    if failed:
        raise Unauthenticated(_LOGIN_FAILED)
    return json_response(tokens)
