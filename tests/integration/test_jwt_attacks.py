"""Forged, substituted and stale access tokens are all 401 problem+json."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
import warnings
from typing import Any

import asyncpg
import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.warnings import InsecureKeyLengthWarning

from serve_app.security import AUDIENCE, ISSUER
from tests.integration.conftest import User, signup
from tests.stack_fixtures import JWT_SECRET as SECRET


def _claims(user: User, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": user.id,
        "org": user.org_id,
        "iat": now,
        "nbf": now,
        "exp": now + 60,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join(
        [_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), _b64(signature)]
    )


async def _assert_401(client: httpx.AsyncClient, token: str, what: str) -> None:
    r = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, (what, r.status_code, r.text)
    assert r.headers["content-type"] == "application/problem+json", what
    assert r.headers["www-authenticate"].startswith("Bearer"), what


async def test_a_well_formed_token_works(client: httpx.AsyncClient, alice: User) -> None:
    token = jwt.encode(_claims(alice), SECRET, algorithm="HS256")
    r = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200


async def test_alg_none_is_refused(client: httpx.AsyncClient, alice: User) -> None:
    for alg in ("none", "None", "NONE"):
        await _assert_401(client, _unsigned({"alg": alg, "typ": "JWT"}, _claims(alice)), alg)
        # with the real signature glued on, too
        signed = jwt.encode(_claims(alice), SECRET, algorithm="HS256")
        header = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
        await _assert_401(client, header + signed[signed.index(".") :], f"{alg}+sig")


async def test_other_algorithms_are_refused_even_with_the_right_key(
    client: httpx.AsyncClient, alice: User
) -> None:
    for alg in ("HS384", "HS512"):
        with warnings.catch_warnings():  # the test secret is short for these; irrelevant
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            token = jwt.encode(_claims(alice), SECRET, algorithm=alg)
        await _assert_401(client, token, alg)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    await _assert_401(client, jwt.encode(_claims(alice), key, algorithm="RS256"), "RS256")
    # an RS256 header over an HS256 signature (algorithm confusion)
    signed = jwt.encode(_claims(alice), SECRET, algorithm="HS256")
    header = _b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    await _assert_401(client, header + signed[signed.index(".") :], "RS256 header")


async def test_tampered_claims_break_the_signature(client: httpx.AsyncClient, alice: User) -> None:
    mallory_id = str(uuid.uuid4())
    signed = jwt.encode(_claims(alice), SECRET, algorithm="HS256")
    header, _, signature = signed.split(".")
    forged = f"{header}.{_b64(json.dumps(_claims(alice, sub=mallory_id)).encode())}.{signature}"
    await _assert_401(client, forged, "tampered sub")


async def test_time_and_audience_claims_are_enforced(
    client: httpx.AsyncClient, alice: User
) -> None:
    now = int(time.time())
    cases = {
        "expired": _claims(alice, iat=now - 3600, nbf=now - 3600, exp=now - 60),
        "not yet valid": _claims(alice, nbf=now + 600, exp=now + 1200),
        "issued in the future": _claims(alice, iat=now + 600, exp=now + 1200),
        "wrong issuer": _claims(alice, iss="https://evil.example"),
        "wrong audience": _claims(alice, aud="someone-else"),
        "no audience": _claims(alice, aud=None),
        "no issued-at": _claims(alice, iat=None),
        "no subject": _claims(alice, sub=None),
        "no organisation": _claims(alice, org=None),
        "subject not a uuid": _claims(alice, sub="admin"),
    }
    for what, claims in cases.items():
        await _assert_401(client, jwt.encode(claims, SECRET, algorithm="HS256"), what)


async def test_token_of_a_removed_member_is_401(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    user = await signup(client)
    await db.execute(
        "DELETE FROM org_members WHERE org_id = $1 AND user_id = $2",
        uuid.UUID(user.org_id),
        uuid.UUID(user.id),
    )
    # fresh on every replica within auth_cache_s (1 s in the test stack)
    deadline = time.monotonic() + 5
    while True:
        r = await client.get("/api/v1/projects", headers=user.headers)
        if r.status_code == 401 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert r.status_code == 401
    for _ in range(4):
        await _assert_401(client, user.token, "removed member")
    refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": user.refresh_token})
    assert refresh.status_code == 401


async def test_token_of_another_organisation_claim_is_401(
    client: httpx.AsyncClient, alice: User, mallory: User
) -> None:
    # validly signed, but names an organisation the user is not a member of
    token = jwt.encode(_claims(alice, org=mallory.org_id), SECRET, algorithm="HS256")
    await _assert_401(client, token, "foreign org")
