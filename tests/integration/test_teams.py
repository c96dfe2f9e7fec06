"""Teams: CRUD, membership, and project access through a team."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.integration.conftest import User, create_project
from tests.integration.identity_helpers import eventually, with_role


async def test_team_crud_with_audit(client: httpx.AsyncClient, alice: User, db: Any) -> None:
    h = alice.headers
    r = await client.post("/api/v1/teams", json={"name": "Platform"}, headers=h)
    assert r.status_code == 201, r.text
    team = r.json()
    assert team["name"] == "Platform" and team["member_ids"] == []
    assert r.headers["location"] == f"/api/v1/teams/{team['id']}"
    r = await client.post("/api/v1/teams", json={"name": "Platform"}, headers=h)
    assert r.status_code == 409
    r = await client.patch(f"/api/v1/teams/{team['id']}", json={"name": "Infra"}, headers=h)
    assert r.status_code == 200 and r.json()["name"] == "Infra"
    r = await client.post("/api/v1/teams", json={"name": "  "}, headers=h)
    assert r.status_code == 422
    r = await client.post("/api/v1/teams", json={"name": "X", "id": str(uuid.uuid4())}, headers=h)
    assert r.status_code == 422  # server-owned field
    listed = (await client.get("/api/v1/teams", headers=h)).json()["items"]
    assert [t["name"] for t in listed] == ["Infra"]
    r = await client.delete(f"/api/v1/teams/{team['id']}", headers=h)
    assert r.status_code == 204
    assert (await client.get(f"/api/v1/teams/{team['id']}", headers=h)).status_code == 404
    actions = await db.fetch(
        "SELECT action FROM audit_log WHERE org_id = $1 AND target_type = 'team' ORDER BY id",
        uuid.UUID(alice.org_id),
    )
    assert [a["action"] for a in actions] == ["team.created", "team.renamed", "team.deleted"]


async def test_team_membership(client: httpx.AsyncClient, alice: User, db: Any) -> None:
    bob = await with_role(client, db, alice, "member")
    team = (await client.post("/api/v1/teams", json={"name": "Web"}, headers=alice.headers)).json()
    url = f"/api/v1/teams/{team['id']}/members/{bob.id}"
    assert (await client.put(url, headers=alice.headers)).status_code == 204
    assert (await client.put(url, headers=alice.headers)).status_code == 204  # idempotent
    got = (await client.get(f"/api/v1/teams/{team['id']}", headers=bob.headers)).json()
    assert got["member_ids"] == [bob.id]
    # Members see teams but do not manage them.
    assert (await client.delete(url, headers=bob.headers)).status_code == 403
    # Only members of the organisation can join.
    stranger = f"/api/v1/teams/{team['id']}/members/{uuid.uuid4()}"
    assert (await client.put(stranger, headers=alice.headers)).status_code == 404
    assert (await client.delete(url, headers=alice.headers)).status_code == 204
    assert (await client.delete(url, headers=alice.headers)).status_code == 404


async def test_a_private_project_is_seen_through_a_team_only(
    client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    bob = await with_role(client, db, alice, "member")
    team = (await client.post("/api/v1/teams", json={"name": "Core"}, headers=alice.headers)).json()
    project = await create_project(client, alice, visibility="private", team_ids=[team["id"]])
    assert project["visibility"] == "private"
    url = f"/api/v1/projects/{project['id']}"
    assert (await client.get(url, headers=bob.headers)).status_code == 404
    listed = (await client.get("/api/v1/projects", headers=bob.headers)).json()["items"]
    assert project["id"] not in {p["id"] for p in listed}
    r = await client.put(f"/api/v1/teams/{team['id']}/members/{bob.id}", headers=alice.headers)
    assert r.status_code == 204
    await eventually(lambda: client.get(url, headers=bob.headers), 200)
    members = (
        await eventually(lambda: client.get(f"{url}/members", headers=bob.headers), 200)
    ).json()
    assert members["teams"] == [{"team_id": team["id"], "role": "member", "name": "Core"}]
    # Unlinking the team from the project takes the access away again.
    r = await client.patch(url, json={"team_ids": []}, headers=alice.headers)
    assert r.status_code == 200, r.text
    await eventually(lambda: client.get(url, headers=bob.headers), 404)


async def test_a_team_role_survives_relinking_other_teams(
    client: httpx.AsyncClient, alice: User
) -> None:
    a = (await client.post("/api/v1/teams", json={"name": "A"}, headers=alice.headers)).json()
    b = (await client.post("/api/v1/teams", json={"name": "B"}, headers=alice.headers)).json()
    project = await create_project(client, alice, team_ids=[a["id"]])
    url = f"/api/v1/projects/{project['id']}"
    r = await client.put(f"{url}/teams/{a['id']}", json={"role": "viewer"}, headers=alice.headers)
    assert r.status_code == 200
    r = await client.put(f"{url}/teams/{b['id']}", json={"role": "viewer"}, headers=alice.headers)
    assert r.status_code == 404  # not linked
    r = await client.patch(url, json={"team_ids": [a["id"], b["id"]]}, headers=alice.headers)
    assert r.status_code == 200
    teams = (await client.get(f"{url}/members", headers=alice.headers)).json()["teams"]
    assert {t["name"]: t["role"] for t in teams} == {"A": "viewer", "B": "member"}


async def test_text_with_a_nul_character_is_refused_before_anything_is_written(
    client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    """PostgreSQL cannot store NUL in text or jsonb: every body string with one is a
    422 naming where it is, on every route (FastAPI's and the direct lane's)."""
    h = alice.headers
    team = (await client.post("/api/v1/teams", json={"name": "Ops"}, headers=h)).json()
    project = await create_project(client, alice)
    refused = [
        await client.patch(f"/api/v1/teams/{team['id']}", json={"name": "a\x00b"}, headers=h),
        await client.post("/api/v1/projects", json={"name": "P\x00"}, headers=h),
        await client.post(
            "/api/v1/tasks", json={"project_id": project["id"], "title": "t\x00"}, headers=h
        ),
        await client.post(
            "/api/v1/tasks",
            json={"project_id": project["id"], "title": "t", "labels": ["ok", "x\x00"]},
            headers=h,
        ),
    ]
    for r in refused:
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "NUL" in r.text, r.text
    assert "labels[1]" in refused[3].text
    got = (await client.get(f"/api/v1/teams/{team['id']}", headers=h)).json()
    assert got["name"] == "Ops"
    tasks = await db.fetchval(
        "SELECT count(*) FROM tasks WHERE project_id = $1", uuid.UUID(project["id"])
    )
    assert tasks == 0
