"""Refresh-token rotation and reuse detection, log-out, and password changes."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import httpx

from tests.integration.conftest import User, signup

REFRESH = "/api/v1/auth/refresh"


async def _status_soon(
    client: httpx.AsyncClient, token: str, expected: int, within_s: float = 5.0
) -> int:
    """The status of GET /users/me with `token`, polled until it is `expected`: other
    replicas may trust their cached view of the user for `auth_cache_s` (1 s here)."""
    deadline = time.monotonic() + within_s
    while True:
        r = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        if r.status_code == expected or time.monotonic() > deadline:
            return r.status_code
        await asyncio.sleep(0.1)


async def test_refresh_rotates_the_pair(
    client: httpx.AsyncClient, alice: User, db: asyncpg.Connection
) -> None:
    r = await client.post(REFRESH, json={"refresh_token": alice.refresh_token})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["refresh_token"] != alice.refresh_token and body["token_type"] == "bearer"
    me = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200 and me.json()["id"] == alice.id
    rows = await db.fetch(
        "SELECT family_id, used_at, revoked_at, token_hash FROM refresh_tokens WHERE user_id = $1",
        uuid.UUID(alice.id),
    )
    assert len(rows) == 2 and len({row["family_id"] for row in rows}) == 1
    assert sorted(row["used_at"] is None for row in rows) == [False, True]
    assert all(len(row["token_hash"]) == 64 for row in rows)  # only hashes are stored
    assert alice.refresh_token not in {row["token_hash"] for row in rows}
    # the new refresh token rotates again
    again = await client.post(REFRESH, json={"refresh_token": body["refresh_token"]})
    assert again.status_code == 200


async def test_reusing_a_refresh_token_revokes_its_family(
    client: httpx.AsyncClient, alice: User, db: asyncpg.Connection
) -> None:
    first = await client.post(REFRESH, json={"refresh_token": alice.refresh_token})
    assert first.status_code == 200
    successor = first.json()["refresh_token"]
    # an unrelated session (another login) survives
    login = await client.post(
        "/api/v1/auth/login", json={"email": alice.email, "password": "correct horse"}
    )
    other_session = login.json()["refresh_token"]

    replay = await client.post(REFRESH, json={"refresh_token": alice.refresh_token})
    assert replay.status_code == 401
    assert replay.headers["content-type"] == "application/problem+json"
    assert "reused" in replay.json()["detail"]
    # the thief's successor token is dead too
    assert (await client.post(REFRESH, json={"refresh_token": successor})).status_code == 401
    assert (await client.post(REFRESH, json={"refresh_token": other_session})).status_code == 200
    actions = await db.fetch(
        "SELECT action FROM audit_log WHERE actor_id = $1", uuid.UUID(alice.id)
    )
    assert "auth.refresh_reused" in {a["action"] for a in actions}


async def test_concurrent_use_of_one_refresh_token_yields_one_pair(
    client: httpx.AsyncClient, alice: User
) -> None:
    results = await asyncio.gather(
        *(client.post(REFRESH, json={"refresh_token": alice.refresh_token}) for _ in range(4))
    )
    assert sorted(r.status_code for r in results) == [200, 401, 401, 401]


async def test_unknown_and_malformed_refresh_tokens_are_401(client: httpx.AsyncClient) -> None:
    assert (await client.post(REFRESH, json={"refresh_token": "nope"})).status_code == 401
    assert (await client.post(REFRESH, json={})).status_code == 422


async def test_expired_refresh_token_is_401(
    client: httpx.AsyncClient, alice: User, db: asyncpg.Connection
) -> None:
    await db.execute(
        "UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1",
        uuid.UUID(alice.id),
    )
    r = await client.post(REFRESH, json={"refresh_token": alice.refresh_token})
    assert r.status_code == 401


async def test_logout_revokes_the_session(
    client: httpx.AsyncClient, alice: User, db: asyncpg.Connection
) -> None:
    rotated = (await client.post(REFRESH, json={"refresh_token": alice.refresh_token})).json()
    r = await client.post("/api/v1/auth/logout", json={"refresh_token": rotated["refresh_token"]})
    assert r.status_code == 204 and r.content == b""
    again = await client.post(REFRESH, json={"refresh_token": rotated["refresh_token"]})
    assert again.status_code == 401
    live = await db.fetchval(
        "SELECT count(*) FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL",
        uuid.UUID(alice.id),
    )
    assert live == 0
    # logging out twice, or with a token nobody knows, is still 204
    assert (
        await client.post("/api/v1/auth/logout", json={"refresh_token": "x"})
    ).status_code == 204


async def test_password_change_revokes_refresh_and_access_tokens(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    user = await signup(client)
    login = await client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": "correct horse"}
    )
    other_access, other_refresh = login.json()["access_token"], login.json()["refresh_token"]
    assert await _status_soon(client, other_access, 200) == 200  # cached as valid

    r = await client.post(
        "/api/v1/users/me/password",
        json={"current_password": "correct horse", "new_password": "battery staple"},
        headers=user.headers,
    )
    assert r.status_code == 200, r.text
    fresh = r.json()

    for token in (user.token, other_access):
        assert await _status_soon(client, token, 401) == 401
    for refresh in (user.refresh_token, other_refresh):
        assert (await client.post(REFRESH, json={"refresh_token": refresh})).status_code == 401
    # the pair returned by the change works, on every replica
    for _ in range(4):
        me = await client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {fresh['access_token']}"}
        )
        assert me.status_code == 200
    assert (
        await client.post(REFRESH, json={"refresh_token": fresh["refresh_token"]})
    ).status_code == 200
    old = await client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": "correct horse"}
    )
    new = await client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": "battery staple"}
    )
    assert (old.status_code, new.status_code) == (401, 200)
    stored = await db.fetchval("SELECT password_hash FROM users WHERE id = $1", uuid.UUID(user.id))
    assert stored.startswith("$argon2id$")
    actions = await db.fetch("SELECT action FROM audit_log WHERE actor_id = $1", uuid.UUID(user.id))
    assert "user.password_changed" in {a["action"] for a in actions}


async def test_password_change_needs_the_current_password(
    client: httpx.AsyncClient, alice: User
) -> None:
    r = await client.post(
        "/api/v1/users/me/password",
        json={"current_password": "wrong one", "new_password": "battery staple"},
        headers=alice.headers,
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "current_password"]
    assert await _status_soon(client, alice.token, 200) == 200
    short = await client.post(
        "/api/v1/users/me/password",
        json={"current_password": "correct horse", "new_password": "short"},
        headers=alice.headers,
    )
    assert short.status_code == 422


async def test_wrong_current_passwords_lock_out_like_logins(
    client: httpx.AsyncClient, alice: User
) -> None:
    body = {"current_password": "wrong one", "new_password": "battery staple"}
    url = "/api/v1/users/me/password"
    statuses = [
        (await client.post(url, json=body, headers=alice.headers)).status_code for _ in range(7)
    ]
    assert statuses == [422] * 6 + [429]  # 5 free, the 6th locks for 1 s
