"""Personal API tokens: shown once, stored hashed, usable as a bearer, scoped."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import httpx

from tests.integration.conftest import User, signup

TOKENS = "/api/v1/users/me/tokens"


async def _create(client: httpx.AsyncClient, user: User, **body: Any) -> dict[str, Any]:
    payload = {"name": "ci script", "scopes": ["read", "write"], **body}
    r = await client.post(TOKENS, json=payload, headers=user.headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _status_soon(
    client: httpx.AsyncClient, token: str, expected: int, within_s: float = 5.0
) -> int:
    """Polled: the other replica may trust its cached answer for `auth_cache_s`."""
    deadline = time.monotonic() + within_s
    while True:
        r = await client.get("/api/v1/users/me", headers=_bearer(token))
        if r.status_code == expected or time.monotonic() > deadline:
            return r.status_code
        await asyncio.sleep(0.1)


async def test_create_shows_the_token_once_and_stores_its_hash(
    client: httpx.AsyncClient, alice: User, db: asyncpg.Connection
) -> None:
    created = await _create(client, alice, expires_in_days=30)
    token = created["token"]
    assert token.startswith("thp_") and len(token) > 40
    assert created["prefix"] == token[:10] and created["scopes"] == ["read", "write"]
    assert created["expires_at"] is not None
    stored = await db.fetchrow(
        "SELECT token_hash, user_id FROM api_tokens WHERE id = $1", uuid.UUID(created["id"])
    )
    assert stored["user_id"] == uuid.UUID(alice.id)
    assert stored["token_hash"] != token and len(stored["token_hash"]) == 64

    listed = await client.get(TOKENS, headers=alice.headers)
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [i["id"] for i in items] == [created["id"]]
    assert "token" not in items[0] and token not in listed.text


async def test_token_authenticates_as_its_user(client: httpx.AsyncClient, alice: User) -> None:
    token = (await _create(client, alice))["token"]
    for _ in range(4):  # both replicas
        me = await client.get("/api/v1/users/me", headers=_bearer(token))
        assert me.status_code == 200 and me.json()["id"] == alice.id
    r = await client.post("/api/v1/projects", json={"name": "Scripted"}, headers=_bearer(token))
    assert r.status_code == 201, r.text


async def test_read_scope_is_refused_any_write(client: httpx.AsyncClient, alice: User) -> None:
    token = (await _create(client, alice, scopes=["read"]))["token"]
    assert (await client.get("/api/v1/projects", headers=_bearer(token))).status_code == 200
    for method, path, body in [
        ("POST", "/api/v1/projects", {"name": "Nope"}),
        ("POST", "/api/v1/tasks", {"project_id": str(uuid.uuid4()), "title": "x"}),
        ("DELETE", f"/api/v1/projects/{uuid.uuid4()}", None),
        ("PATCH", f"/api/v1/tasks/{uuid.uuid4()}", {"title": "y"}),
    ]:
        r = await client.request(method, path, json=body, headers=_bearer(token))
        assert r.status_code == 403, (method, path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert "read-only" in r.json()["detail"]


async def test_managing_credentials_needs_the_admin_scope(
    client: httpx.AsyncClient, alice: User
) -> None:
    write = (await _create(client, alice, scopes=["write"]))["token"]
    admin = (await _create(client, alice, scopes=["admin"]))["token"]
    mint = {"name": "successor", "scopes": ["admin"]}
    assert (await client.post(TOKENS, json=mint, headers=_bearer(write))).status_code == 403
    assert (await client.get(TOKENS, headers=_bearer(write))).status_code == 403
    password = {"current_password": "correct horse", "new_password": "x" * 12}
    r = await client.post("/api/v1/users/me/password", json=password, headers=_bearer(write))
    assert r.status_code == 403
    assert (await client.post(TOKENS, json=mint, headers=_bearer(admin))).status_code == 201


async def test_revoked_token_is_401(
    client: httpx.AsyncClient, alice: User, db: asyncpg.Connection
) -> None:
    created = await _create(client, alice)
    assert await _status_soon(client, created["token"], 200) == 200
    r = await client.delete(f"{TOKENS}/{created['id']}", headers=alice.headers)
    assert r.status_code == 204
    assert await _status_soon(client, created["token"], 401) == 401
    assert (
        await db.fetchval("SELECT count(*) FROM api_tokens WHERE id = $1", uuid.UUID(created["id"]))
        == 0
    )
    again = await client.delete(f"{TOKENS}/{created['id']}", headers=alice.headers)
    assert again.status_code == 404
    assert (await client.get(TOKENS, headers=alice.headers)).json()["items"] == []


async def test_other_users_token_cannot_be_deleted(
    client: httpx.AsyncClient, alice: User, mallory: User
) -> None:
    created = await _create(client, alice)
    r = await client.delete(f"{TOKENS}/{created['id']}", headers=mallory.headers)
    assert r.status_code == 404
    assert await _status_soon(client, created["token"], 200) == 200


async def test_token_of_a_deleted_user_is_401(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    user = await signup(client)
    token = (await _create(client, user))["token"]
    assert await _status_soon(client, token, 200) == 200
    await db.execute("DELETE FROM users WHERE id = $1", uuid.UUID(user.id))
    assert await _status_soon(client, token, 401) == 401
    assert await _status_soon(client, user.token, 401) == 401


async def test_expired_token_is_401(
    client: httpx.AsyncClient, alice: User, db: asyncpg.Connection
) -> None:
    created = await _create(client, alice, expires_in_days=1)
    assert await _status_soon(client, created["token"], 200) == 200
    await db.execute(
        "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1",
        uuid.UUID(created["id"]),
    )
    assert await _status_soon(client, created["token"], 401) == 401


async def test_garbage_api_token_and_bad_input(client: httpx.AsyncClient, alice: User) -> None:
    assert (await client.get("/api/v1/users/me", headers=_bearer("thp_nope"))).status_code == 401
    for body in [
        {"name": "x", "scopes": ["root"]},
        {"name": "x", "scopes": []},
        {"name": "", "scopes": ["read"]},
        {"name": "x", "scopes": ["read"], "expires_in_days": 0},
    ]:
        assert (await client.post(TOKENS, json=body, headers=alice.headers)).status_code == 422
