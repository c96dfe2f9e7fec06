"""Sign-up, log-in, the caller's identity, and what happens without a valid token."""

from __future__ import annotations

import time
import uuid

import asyncpg
import httpx
import jwt

from serve_app.security import AUDIENCE, ISSUER
from tests.integration.conftest import User, signup
from tests.stack_fixtures import JWT_SECRET as SECRET


async def test_signup_creates_user_org_and_tokens(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    r = await client.post(
        "/api/v1/auth/signup",
        json={"email": email, "name": "Nia", "password": "long enough", "org_name": "Nia Co"},
    )
    assert r.status_code == 201
    body = r.json()
    assert body["user"]["email"] == email and body["user"]["name"] == "Nia"
    assert body["org"]["name"] == "Nia Co"
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    assert body["access_token"] and body["refresh_token"]
    role = await db.fetchval(
        "SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2",
        uuid.UUID(body["org"]["id"]),
        uuid.UUID(body["user"]["id"]),
    )
    assert role == "owner"
    stored = await db.fetchval("SELECT password_hash FROM users WHERE email = $1", email)
    assert stored.startswith("$argon2id$")


async def test_signup_without_org_name_names_org_after_user(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/v1/auth/signup",
        json={
            "email": f"solo-{uuid.uuid4().hex[:8]}@example.com",
            "name": "Solo",
            "password": "12345678",
        },
    )
    assert r.status_code == 201
    assert "Solo" in r.json()["org"]["name"]


async def test_duplicate_email_is_409_case_insensitive(
    client: httpx.AsyncClient, alice: User
) -> None:
    r = await client.post(
        "/api/v1/auth/signup",
        json={"email": alice.email.upper(), "name": "Again", "password": "another one"},
    )
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert "already exists" in r.json()["detail"]


async def test_short_password_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/v1/auth/signup",
        json={"email": "short@example.com", "name": "S", "password": "1234567"},
    )
    assert r.status_code == 422
    problem = r.json()
    assert problem["status"] == 422 and problem["title"]
    assert any(e["loc"][-1] == "password" for e in problem["errors"])


async def test_signup_rejects_bad_email_and_unknown_fields(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/v1/auth/signup", json={"email": "nope", "name": "x", "password": "12345678"}
    )
    assert r.status_code == 422
    r = await client.post(
        "/api/v1/auth/signup",
        json={"email": "x@example.com", "name": "x", "password": "12345678", "role": "owner"},
    )
    assert r.status_code == 422
    assert any(e["loc"][-1] == "role" for e in r.json()["errors"])


async def test_login_returns_working_tokens(client: httpx.AsyncClient, alice: User) -> None:
    r = await client.post(
        "/api/v1/auth/login", json={"email": alice.email, "password": "correct horse"}
    )
    assert r.status_code == 200
    token = r.json()["access_token"]
    me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["id"] == alice.id


async def test_login_failures_look_identical(client: httpx.AsyncClient, alice: User) -> None:
    wrong = await client.post(
        "/api/v1/auth/login", json={"email": alice.email, "password": "wrong pass"}
    )
    unknown = await client.post(
        "/api/v1/auth/login", json={"email": "nobody@example.com", "password": "wrong pass"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.headers["www-authenticate"].startswith("Bearer")


async def test_failed_and_successful_logins_are_audited(
    client: httpx.AsyncClient, alice: User, db: asyncpg.Connection
) -> None:
    await client.post("/api/v1/auth/login", json={"email": alice.email, "password": "wrong pass"})
    await client.post(
        "/api/v1/auth/login", json={"email": alice.email, "password": "correct horse"}
    )
    actions = await db.fetch(
        "SELECT action FROM audit_log WHERE actor_id = $1 ORDER BY id", uuid.UUID(alice.id)
    )
    assert [a["action"] for a in actions][-2:] == ["auth.login_failed", "auth.login"]


async def test_me_shows_identity_role_and_teams(client: httpx.AsyncClient, alice: User) -> None:
    r = await client.get("/api/v1/users/me", headers=alice.headers)
    assert r.status_code == 200
    assert r.json() == {
        "id": alice.id,
        "email": alice.email,
        "name": "Test User",
        "org_id": alice.org_id,
        "role": "owner",
        "team_ids": [],
    }


async def test_api_requires_a_bearer_token(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/api/v1/users/me"),
        ("GET", "/api/v1/projects"),
        ("POST", "/api/v1/projects"),
        ("GET", "/api/v1/tasks"),
        ("POST", "/api/v1/tasks"),
        ("GET", f"/api/v1/tasks/{uuid.uuid4()}"),
    ]:
        r = await client.request(method, path)
        assert r.status_code == 401, (method, path)
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.headers["content-type"] == "application/problem+json"


def _token(**claims: object) -> str:
    now = int(time.time())
    base = {
        "sub": str(uuid.uuid4()),
        "org": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 60,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, SECRET, algorithm="HS256")


async def test_invalid_tokens_are_rejected(client: httpx.AsyncClient, alice: User) -> None:
    now = int(time.time())
    bad = {
        "expired": _token(sub=alice.id, org=alice.org_id, iat=now - 3600, exp=now - 1800),
        "wrong issuer": _token(sub=alice.id, org=alice.org_id, iss="someone-else"),
        "wrong audience": _token(sub=alice.id, org=alice.org_id, aud="other"),
        "no expiry": _token(sub=alice.id, org=alice.org_id, exp=None),
        "wrong key": jwt.encode(
            {
                "sub": alice.id,
                "org": alice.org_id,
                "iat": now,
                "exp": now + 60,
                "iss": ISSUER,
                "aud": AUDIENCE,
            },
            "not-the-secret-" * 3,
            algorithm="HS256",
        ),
        "alg none": jwt.encode(
            {
                "sub": alice.id,
                "org": alice.org_id,
                "iat": now,
                "exp": now + 60,
                "iss": ISSUER,
                "aud": AUDIENCE,
            },
            "",  # no key, as "none" requires
            algorithm="none",
        ),
        "garbage": "not.a.jwt",
    }
    for name, token in bad.items():
        r = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, name
    good = _token(sub=alice.id, org=alice.org_id)
    r = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {good}"})
    assert r.status_code == 200


async def test_signup_is_independent_per_user(client: httpx.AsyncClient) -> None:
    a, b = await signup(client), await signup(client)
    assert a.org_id != b.org_id
