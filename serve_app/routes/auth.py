"""Sign-up, log-in (with brute-force lockout), refresh-token rotation and log-out.

Refresh tokens rotate on every use and belong to a family (one login). Presenting
a token that was already used means it leaked (or a client raced itself): the
whole family is revoked and the caller gets 401, so a thief's copy and the
victim's both stop working and the user logs in again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.errors import Conflict, Forbidden, NotFound, TooManyRequests, Unauthenticated
from serve_app.auth_schemas import RefreshIn
from serve_app.client_address import caller_ip
from serve_app.context import AppContext, Ctx, CurrentPrincipal
from serve_app.responses import json_response
from serve_app.routes.totp import OtpRequired, check_second_factor
from serve_app.schemas import LoginIn, SignupIn, SignupOut, Strict, TokensOut
from serve_app.security import (
    Principal,
    hash_password,
    hash_refresh_token,
    is_api_token,
    issue_access_token,
    new_refresh_token,
    verify_password,
)
from storage import accounts, credentials

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

_LOGIN_FAILED = "email or password is wrong"


async def issue_tokens(
    conn: AsyncConnection, ctx: AppContext, principal: Principal, family_id: UUID | None = None
) -> dict[str, object]:
    """A new access token and refresh token (of `family_id`, or a new family)."""
    refresh, refresh_hash = new_refresh_token()
    await accounts.store_refresh_token(
        conn,
        user_id=principal.user_id,
        org_id=principal.org_id,
        token_hash=refresh_hash,
        expires_at=datetime.now(UTC) + timedelta(seconds=ctx.config.refresh_token_ttl_s),
        family_id=family_id,
    )
    return {
        "access_token": issue_access_token(
            principal, secret=ctx.auth.keys, ttl_s=ctx.config.access_token_ttl_s
        ),
        "refresh_token": refresh,
        "token_type": "bearer",
        "expires_in": ctx.config.access_token_ttl_s,
    }


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
                client_ip=caller_ip(request),
            )
            tokens = await issue_tokens(conn, ctx, Principal(user_id=user_id, org_id=org_id))
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
    give the same 401 and take the same time. After repeated failures the account
    (and the client IP, when a trusted `X-Forwarded-For` names it) is locked for
    exponentially longer, at most `login_lock_max_s`: 429 with `Retry-After`,
    even for the right password.
    With two-factor authentication on, `otp` (a current or recovery code) is needed
    too: without it, 401 with `otp_required` (counted like a failure)."""
    # Failed logins count per IP only when a trusted balancer named the caller: the
    # TCP peer is Serve's proxy, and counting it would let anyone lock everyone out.
    throttle, ip = ctx.login_throttle, caller_ip(request)
    if throttle is not None:
        wait = await throttle.locked_for(body.email, ip)
        if wait:
            raise TooManyRequests(f"too many failed logins; try again in {wait} s", wait)
    otp_missing: OtpRequired | None = None
    async with ctx.engine.begin() as conn:
        found = await accounts.find_login(conn, body.email)
        ok = await verify_password(body.password, found.password_hash if found else None)
        if ok and found is not None:
            try:
                ok = await check_second_factor(conn, found.id, body.otp)
            except OtpRequired as exc:
                ok, otp_missing = False, exc
        if found is None or not ok or found.org_id is None:
            if found is not None and found.org_id is not None:
                await accounts.audit(
                    conn,
                    org_id=found.org_id,
                    actor_id=found.id,
                    action="auth.login_failed",
                    target_type="user",
                    target_id=str(found.id),
                    client_ip=caller_ip(request),
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
                client_ip=caller_ip(request),
            )
            tokens = await issue_tokens(conn, ctx, Principal(user_id=found.id, org_id=org_id))
            failed = False
    if failed:
        if throttle is not None:
            await throttle.failed(body.email, ip)
        raise otp_missing or Unauthenticated(_LOGIN_FAILED)
    if throttle is not None:
        await throttle.succeeded(body.email, ip)
    return json_response(tokens)


@router.post("/refresh", response_model=TokensOut)
async def refresh(body: RefreshIn, request: Request, ctx: Ctx) -> Response:
    """Exchange a refresh token for a new pair; the presented token is spent.

    401 if it is unknown, expired or revoked, or its user left the organisation; a
    token presented a second time revokes its whole family (reuse detection)."""
    now = datetime.now(UTC)
    tokens: dict[str, object] | None = None
    reused = False
    async with ctx.engine.begin() as conn:
        row = await credentials.claim_refresh_token(conn, hash_refresh_token(body.refresh_token))
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            pass
        elif row.used_at is not None:
            reused = True
            await credentials.revoke_family(conn, row.family_id, now=now)
            await accounts.audit(
                conn,
                org_id=row.org_id,
                actor_id=row.user_id,
                action="auth.refresh_reused",
                target_type="session",
                target_id=str(row.family_id),
                client_ip=caller_ip(request),
            )
        elif await credentials.user_standing(conn, user_id=row.user_id, org_id=row.org_id):
            await credentials.mark_refresh_used(conn, row.id, now=now)
            principal = Principal(user_id=row.user_id, org_id=row.org_id)
            tokens = await issue_tokens(conn, ctx, principal, family_id=row.family_id)
    if tokens is None:
        if reused:
            raise Unauthenticated("refresh token reused; the session was revoked, log in again")
        raise Unauthenticated("invalid refresh token")
    return json_response(tokens)


@router.post("/logout", status_code=204)
async def logout(body: RefreshIn, request: Request, ctx: Ctx) -> Response:
    """Revoke the session (the refresh token's family). Always 204: an unknown or
    already revoked token is as logged out as it gets. Access tokens already
    issued stay valid until they expire (at most `access_token_ttl_s`)."""
    now = datetime.now(UTC)
    async with ctx.engine.begin() as conn:
        row = await credentials.claim_refresh_token(conn, hash_refresh_token(body.refresh_token))
        if row is not None and await credentials.revoke_family(conn, row.family_id, now=now):
            await accounts.audit(
                conn,
                org_id=row.org_id,
                actor_id=row.user_id,
                action="auth.logout",
                target_type="session",
                target_id=str(row.family_id),
                client_ip=caller_ip(request),
            )
    return Response(status_code=204)


class SwitchOrgIn(Strict):
    org_id: UUID


@router.post("/switch-org", response_model=TokensOut)
async def switch_org(
    body: SwitchOrgIn, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """A new token pair for another organisation the caller belongs to (tokens are
    per organisation). 404 if they are not a member of it; 403 for a personal API
    token, which stays bound to the organisation it was made in."""
    bearer = request.headers.get("authorization", "").partition(" ")[2].strip()
    if is_api_token(bearer):
        raise Forbidden("an API token belongs to one organisation; log in to switch")
    async with ctx.engine.begin() as conn:
        standing = await credentials.user_standing(
            conn, user_id=principal.user_id, org_id=body.org_id
        )
        if standing is None:
            raise NotFound("organisation not found")
        await accounts.audit(
            conn,
            org_id=body.org_id,
            actor_id=principal.user_id,
            action="auth.switch_org",
            target_type="org",
            target_id=str(body.org_id),
            client_ip=caller_ip(request),
            details={"from_org_id": str(principal.org_id)},
        )
        tokens = await issue_tokens(
            conn, ctx, Principal(user_id=principal.user_id, org_id=body.org_id)
        )
    return json_response(tokens)
