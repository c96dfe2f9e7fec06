"""Organisation members: list, change roles, remove; the last owner stays; several
organisations per user and switching between them; `GET /users/me`."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.integration.conftest import User, create_project, signup
from tests.integration.identity_helpers import eventually, with_role


async def _audit_actions(db: Any, org_id: str, target: str) -> list[str]:
    rows = await db.fetch(
        "SELECT action FROM audit_log WHERE org_id = $1 AND target_id = $2 ORDER BY id",
        uuid.UUID(org_id),
        target,
    )
    return [r["action"] for r in rows]


async def test_members_are_listed_with_their_roles(
    client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    bob = await with_role(client, db, alice, "member")
    guest = await with_role(client, db, alice, "guest")
    r = await client.get("/api/v1/members", headers=bob.headers)
    assert r.status_code == 200
    roles = {m["user_id"]: m["role"] for m in r.json()["items"]}
    assert roles == {alice.id: "owner", bob.id: "member", guest.id: "guest"}
    # Guests do not get the directory.
    r = await client.get("/api/v1/members", headers=guest.headers)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_an_admin_changes_roles_with_an_audit_row(
    client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    admin = await with_role(client, db, alice, "admin")
    bob = await with_role(client, db, alice, "member")
    r = await client.patch(
        f"/api/v1/members/{bob.id}", json={"role": "guest"}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "guest"
    assert await _audit_actions(db, alice.org_id, bob.id) == ["member.role_changed"]
    me = await eventually(lambda: client.get("/api/v1/users/me", headers=bob.headers), 200)
    assert me.json()["role"] in ("guest", "member")  # the other replica may lag 1 s
    await eventually(lambda: client.get("/api/v1/members", headers=bob.headers), 403)  # a guest now


async def test_members_cannot_change_roles_and_admins_cannot_touch_owners(
    client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    admin = await with_role(client, db, alice, "admin")
    bob = await with_role(client, db, alice, "member")
    carol = await with_role(client, db, alice, "member")
    r = await client.patch(
        f"/api/v1/members/{carol.id}", json={"role": "admin"}, headers=bob.headers
    )
    assert r.status_code == 403
    r = await client.patch(
        f"/api/v1/members/{alice.id}", json={"role": "member"}, headers=admin.headers
    )
    assert r.status_code == 403
    r = await client.patch(
        f"/api/v1/members/{bob.id}", json={"role": "owner"}, headers=admin.headers
    )
    assert r.status_code == 403
    r = await client.delete(f"/api/v1/members/{alice.id}", headers=admin.headers)
    assert r.status_code == 403
    r = await client.patch(
        f"/api/v1/members/{carol.id}", json={"role": "boss"}, headers=alice.headers
    )
    assert r.status_code == 422


async def test_the_last_owner_can_be_neither_demoted_nor_removed(
    client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    r = await client.patch(
        f"/api/v1/members/{alice.id}", json={"role": "admin"}, headers=alice.headers
    )
    assert r.status_code == 409, r.text
    r = await client.delete(f"/api/v1/members/{alice.id}", headers=alice.headers)
    assert r.status_code == 409
    # With a second owner, one of them may step down.
    bob = await with_role(client, db, alice, "member")
    r = await client.patch(
        f"/api/v1/members/{bob.id}", json={"role": "owner"}, headers=alice.headers
    )
    assert r.status_code == 200
    r = await client.patch(
        f"/api/v1/members/{alice.id}", json={"role": "admin"}, headers=alice.headers
    )
    assert r.status_code == 200
    r = await client.patch(
        f"/api/v1/members/{bob.id}", json={"role": "member"}, headers=bob.headers
    )
    assert r.status_code == 409
    owners = await db.fetchval(
        "SELECT count(*) FROM org_members WHERE org_id = $1 AND role = 'owner'",
        uuid.UUID(alice.org_id),
    )
    assert owners == 1


async def test_removal_ends_access_and_grants(
    client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    bob = await with_role(client, db, alice, "member")
    project = await create_project(client, alice, visibility="private")
    r = await client.post(
        f"/api/v1/projects/{project['id']}/members",
        json={"user_id": bob.id, "role": "member"},
        headers=alice.headers,
    )
    assert r.status_code == 201
    assert (
        await client.get(f"/api/v1/projects/{project['id']}", headers=bob.headers)
    ).status_code == 200
    r = await client.delete(f"/api/v1/members/{bob.id}", headers=alice.headers)
    assert r.status_code == 204
    await eventually(lambda: client.get("/api/v1/users/me", headers=bob.headers), 401)
    left = await db.fetchval(
        "SELECT count(*) FROM project_members WHERE user_id = $1", uuid.UUID(bob.id)
    )
    assert left == 0
    assert await _audit_actions(db, alice.org_id, bob.id) == ["member.removed"]
    r = await client.delete(f"/api/v1/members/{bob.id}", headers=alice.headers)
    assert r.status_code == 404


async def test_a_member_may_leave(client: httpx.AsyncClient, alice: User, db: Any) -> None:
    guest = await with_role(client, db, alice, "guest")
    r = await client.delete(f"/api/v1/members/{guest.id}", headers=guest.headers)
    assert r.status_code == 204
    assert await _audit_actions(db, alice.org_id, guest.id) == ["member.left"]


async def test_me_shows_role_and_teams(client: httpx.AsyncClient, alice: User, db: Any) -> None:
    bob = await with_role(client, db, alice, "admin")
    team = (await client.post("/api/v1/teams", json={"name": "Ops"}, headers=alice.headers)).json()
    r = await client.put(f"/api/v1/teams/{team['id']}/members/{bob.id}", headers=alice.headers)
    assert r.status_code == 204
    me = (await client.get("/api/v1/users/me", headers=bob.headers)).json()
    assert (me["role"], me["team_ids"], me["org_id"]) == ("admin", [team["id"]], alice.org_id)


async def test_a_user_in_two_orgs_switches_between_them(
    client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    bob = await signup(client, org_name="Bob's own")
    await db.execute(
        "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'guest')",
        uuid.UUID(alice.org_id),
        uuid.UUID(bob.id),
    )
    orgs = (await client.get("/api/v1/users/me/orgs", headers=bob.headers)).json()
    assert {o["id"]: o["role"] for o in orgs["items"]} == {
        bob.org_id: "owner",
        alice.org_id: "guest",
    }
    assert orgs["current_org_id"] == bob.org_id
    r = await client.post(
        "/api/v1/auth/switch-org", json={"org_id": alice.org_id}, headers=bob.headers
    )
    assert r.status_code == 200, r.text
    switched = {"Authorization": f"Bearer {r.json()['access_token']}"}
    me = (await client.get("/api/v1/users/me", headers=switched)).json()
    assert (me["org_id"], me["role"]) == (alice.org_id, "guest")
    # The refresh token of the new pair stays in the organisation switched to.
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": r.json()["refresh_token"]})
    refreshed = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert (await client.get("/api/v1/users/me", headers=refreshed)).json()[
        "org_id"
    ] == alice.org_id
    # Not a member: 404, as if the organisation did not exist.
    stranger = await signup(client)
    r = await client.post(
        "/api/v1/auth/switch-org", json={"org_id": alice.org_id}, headers=stranger.headers
    )
    assert r.status_code == 404
    # An API token stays in its organisation.
    token = (
        await client.post(
            "/api/v1/users/me/tokens", json={"name": "ci", "scopes": ["admin"]}, headers=bob.headers
        )
    ).json()["token"]
    r = await client.post(
        "/api/v1/auth/switch-org",
        json={"org_id": alice.org_id},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 403
