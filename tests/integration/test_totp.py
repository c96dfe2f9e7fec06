"""Two-factor authentication: setup, login with a code, replay, recovery codes."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pyotp

from serve_app.routes.totp import STEP_S
from tests.integration.conftest import User

PASSWORD = "correct horse"  # conftest.signup's


def _code(secret: str, step_offset: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + step_offset * STEP_S)


async def _enable(client: httpx.AsyncClient, user: User) -> tuple[str, list[str]]:
    r = await client.post("/api/v1/users/me/2fa/totp", headers=user.headers)
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]
    assert r.json()["otpauth_uri"].startswith("otpauth://totp/Taskhive:")
    r = await client.post(
        "/api/v1/users/me/2fa/totp/confirm", json={"code": "000000"}, headers=user.headers
    )
    assert r.status_code == 422  # a wrong first code changes nothing
    # The previous step's code: the login below uses the current one, which must be fresh.
    r = await client.post(
        "/api/v1/users/me/2fa/totp/confirm",
        json={"code": _code(secret, -1)},
        headers=user.headers,
    )
    assert r.status_code == 200, r.text
    codes: list[str] = r.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    return secret, codes


async def _login(client: httpx.AsyncClient, user: User, **extra: Any) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": PASSWORD, **extra}
    )


async def test_login_needs_a_fresh_code_once_enabled(
    client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    assert (await _login(client, alice)).status_code == 200
    secret, _ = await _enable(client, alice)
    r = await _login(client, alice)
    assert r.status_code == 401 and r.json()["otp_required"] is True
    valid = {_code(secret, k) for k in (-1, 0, 1)}
    wrong = next(c for c in ("123456", "654321", "111111", "222222") if c not in valid)
    assert (await _login(client, alice, otp=wrong)).status_code == 401
    code = _code(secret)
    r = await _login(client, alice, otp=code)
    assert r.status_code == 200, r.text
    # The same code again (replay within its 30 s) is refused.
    assert (await _login(client, alice, otp=code)).status_code == 401
    # The next step's code works (clock drift); a wrong password with it does not.
    r = await client.post(
        "/api/v1/auth/login",
        json={"email": alice.email, "password": "wrong password", "otp": _code(secret, 1)},
    )
    assert r.status_code == 401 and "otp_required" not in r.json()
    assert (await _login(client, alice, otp=_code(secret, 1))).status_code == 200
    actions = await db.fetch(
        "SELECT action FROM audit_log WHERE actor_id = $1 AND action LIKE 'user.2fa%'",
        uuid.UUID(alice.id),
    )
    assert [a["action"] for a in actions] == ["user.2fa_enabled"]


async def test_recovery_codes_work_once(client: httpx.AsyncClient, alice: User, db: Any) -> None:
    _, codes = await _enable(client, alice)
    stored = await db.fetch(
        "SELECT code_hash FROM recovery_codes WHERE user_id = $1",
        uuid.UUID(alice.id),
    )
    assert len(stored) == 10 and not {r["code_hash"] for r in stored} & set(codes)
    assert (await _login(client, alice, otp=codes[0].upper())).status_code == 200
    assert (await _login(client, alice, otp=codes[0])).status_code == 401
    status = (await client.get("/api/v1/users/me/2fa", headers=alice.headers)).json()
    assert status == {"totp_enabled": True, "recovery_codes_left": 9}


async def test_turning_it_off_needs_a_code(client: httpx.AsyncClient, alice: User) -> None:
    _, codes = await _enable(client, alice)
    r = await client.request(
        "DELETE", "/api/v1/users/me/2fa/totp", json={"code": "999999"}, headers=alice.headers
    )
    assert r.status_code == 422
    r = await client.request(
        "DELETE", "/api/v1/users/me/2fa/totp", json={"code": codes[1]}, headers=alice.headers
    )
    assert r.status_code == 204
    assert (await _login(client, alice)).status_code == 200
    status = (await client.get("/api/v1/users/me/2fa", headers=alice.headers)).json()
    assert status == {"totp_enabled": False, "recovery_codes_left": 0}
