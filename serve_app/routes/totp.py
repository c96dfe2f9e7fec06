"""Optional two-factor authentication for password logins: TOTP (RFC 6238, any
authenticator app) with single-use recovery codes.

Set up in two steps so a typo cannot lock anyone out: `POST .../totp` returns a
new secret (and its `otpauth://` URI for a QR code), `POST .../totp/confirm` with a
first valid code switches it on and answers ten recovery codes, shown once and
stored as SHA-256 (80 random bits each, like API tokens need no slow hash).

A code is accepted for the current 30-second step or one step either side (clock
drift), and each step only once: a code seen on the wire cannot be replayed. Once
enabled, `POST /api/v1/auth/login` needs `otp` (a current code or a recovery code).
"""

from __future__ import annotations

import base64
import hmac
import secrets
import time
from datetime import UTC, datetime
from uuid import UUID

import pyotp
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.errors import Conflict, InvalidInput, TooManyRequests, Unauthenticated
from serve_app.client_address import caller_ip
from serve_app.context import AdminPrincipal, AppContext, Ctx
from serve_app.responses import json_response
from serve_app.schemas import Strict
from serve_app.security import hash_token
from storage import accounts
from storage import totp as store
from storage.tables import users

router = APIRouter(prefix="/api/v1/users/me/2fa", tags=["two-factor"])

ISSUER = "Taskhive"
STEP_S = 30
RECOVERY_CODES = 10


class OtpRequired(Unauthenticated):
    """The password was right, but the account needs a second factor (`otp`)."""

    def extra(self) -> dict[str, object]:
        return {"otp_required": True}


class CodeIn(Strict):
    #: Six digits from the app, or a recovery code (`k7qm-3xwd-p2ha-9tfe`).
    code: str = Field(min_length=6, max_length=32, pattern=r"^[0-9A-Za-z -]+$")


def _current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_S)


def matching_step(secret: str, code: str, *, after: int | None, now: float | None = None) -> int:
    """The time step (now, or one either side) whose code is `code` and which is
    later than `after` (the last step used); -1 when there is none."""
    totp = pyotp.TOTP(secret)
    current = _current_step(now)
    for step in (current - 1, current, current + 1):
        if after is not None and step <= after:
            continue
        if hmac.compare_digest(totp.at(step * STEP_S).encode(), code.strip().encode()):
            return step
    return -1


def new_recovery_codes() -> list[str]:
    """Ten codes like `k7qm-3xwd-p2ha-9tfe` (16 base32 characters, 80 bits)."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    return codes


def _normalise(code: str) -> str:
    return code.strip().lower().replace(" ", "")


def _hash_recovery(code: str) -> str:
    return hash_token(_normalise(code))


async def check_second_factor(conn: AsyncConnection, user_id: UUID, code: str | None) -> bool:
    """For a login whose password was right: True when the user has no second factor
    or `code` is a fresh TOTP code or an unused recovery code (spent now). Raises
    `OtpRequired` when a code is needed and none was given. Run it inside the
    login's transaction: the TOTP row is locked until it commits."""
    setup = await store.state(conn, user_id, lock=True)
    if setup is None or not setup.enabled:
        return True
    if not code:
        raise OtpRequired("this account needs a one-time code: send it as `otp`")
    step = matching_step(setup.secret, code, after=setup.last_step)
    if step >= 0:
        await store.use_step(conn, user_id, step)
        return True
    return await store.spend_recovery_code(
        conn, user_id, _hash_recovery(code), now=datetime.now(UTC)
    )


@router.get("")
async def status(principal: AdminPrincipal, ctx: Ctx) -> Response:
    async with ctx.engine.connect() as conn:
        setup = await store.state(conn, principal.user_id)
        left = await store.recovery_codes_left(conn, principal.user_id)
    enabled = setup is not None and setup.enabled
    return json_response({"totp_enabled": enabled, "recovery_codes_left": left if enabled else 0})


@router.post("/totp", status_code=201)
async def start(principal: AdminPrincipal, ctx: Ctx) -> Response:
    """A new secret to put in an authenticator app; not active until confirmed.
    409 while two-factor authentication is on (turn it off first)."""
    secret = pyotp.random_base32()
    async with ctx.engine.begin() as conn:
        setup = await store.state(conn, principal.user_id, lock=True)
        if setup is not None and setup.enabled:
            raise Conflict("two-factor authentication is already on")
        email = await conn.scalar(select(users.c.email).where(users.c.id == principal.user_id))
        await store.start(conn, principal.user_id, secret)
    uri = pyotp.TOTP(secret).provisioning_uri(name=str(email), issuer_name=ISSUER)
    return json_response({"secret": secret, "otpauth_uri": uri}, status=201)


@router.post("/totp/confirm")
async def confirm(body: CodeIn, request: Request, principal: AdminPrincipal, ctx: Ctx) -> Response:
    """Switch two-factor authentication on with a first code from the app; answers
    the recovery codes (shown only now)."""
    codes = new_recovery_codes()
    async with ctx.engine.begin() as conn:
        setup = await store.state(conn, principal.user_id, lock=True)
        if setup is None:
            raise Conflict("start with POST /api/v1/users/me/2fa/totp")
        if setup.enabled:
            raise Conflict("two-factor authentication is already on")
        step = matching_step(setup.secret, body.code, after=None)
        if step < 0:
            raise InvalidInput.field("code", "is not the app's current code")
        await store.enable(conn, principal.user_id, now=datetime.now(UTC), step=step)
        await store.replace_recovery_codes(
            conn, principal.user_id, [_hash_recovery(c) for c in codes]
        )
        await _audit(conn, principal.org_id, principal.user_id, "user.2fa_enabled", request)
    return json_response({"recovery_codes": codes})


@router.post("/recovery-codes")
async def regenerate(
    body: CodeIn, request: Request, principal: AdminPrincipal, ctx: Ctx
) -> Response:
    """New recovery codes (the old ones stop working); needs a current code."""
    codes = new_recovery_codes()
    await _throttled(ctx, principal.user_id)
    async with ctx.engine.begin() as conn:
        ok = await _require_code(conn, principal.user_id, body.code)
        if ok:
            await store.replace_recovery_codes(
                conn, principal.user_id, [_hash_recovery(c) for c in codes]
            )
            await _audit(
                conn, principal.org_id, principal.user_id, "user.2fa_codes_renewed", request
            )
    await _settle(ctx, principal.user_id, ok)
    return json_response({"recovery_codes": codes})


@router.delete("/totp", status_code=204)
async def disable(body: CodeIn, request: Request, principal: AdminPrincipal, ctx: Ctx) -> Response:
    """Switch two-factor authentication off; needs a current or recovery code, so a
    stolen session alone cannot remove it."""
    await _throttled(ctx, principal.user_id)
    async with ctx.engine.begin() as conn:
        ok = await _require_code(conn, principal.user_id, body.code)
        if ok:
            await store.disable(conn, principal.user_id)
            await _audit(conn, principal.org_id, principal.user_id, "user.2fa_disabled", request)
    await _settle(ctx, principal.user_id, ok)
    return Response(status_code=204)


async def _require_code(conn: AsyncConnection, user_id: UUID, code: str) -> bool:
    setup = await store.state(conn, user_id, lock=True)
    if setup is None or not setup.enabled:
        raise Conflict("two-factor authentication is off")
    return await check_second_factor(conn, user_id, code)


# Wrong codes count like failed logins (per user), so a stolen session cannot try
# all million codes to switch the second factor off.
async def _throttled(ctx: AppContext, user_id: UUID) -> None:
    if ctx.login_throttle is not None:
        wait = await ctx.login_throttle.locked_for(f"2fa:{user_id}", None)
        if wait:
            raise TooManyRequests(f"too many wrong codes; try again in {wait} s", wait)


async def _settle(ctx: AppContext, user_id: UUID, ok: bool) -> None:
    if ok:
        return
    if ctx.login_throttle is not None:
        await ctx.login_throttle.failed(f"2fa:{user_id}", None)
    raise InvalidInput.field("code", "is neither a current code nor an unused recovery code")


async def _audit(
    conn: AsyncConnection, org_id: UUID, user_id: UUID, action: str, request: Request
) -> None:
    await accounts.audit(
        conn,
        org_id=org_id,
        actor_id=user_id,
        action=action,
        target_type="user",
        target_id=str(user_id),
        client_ip=caller_ip(request),
    )
