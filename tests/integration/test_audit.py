"""`GET /api/v1/audit`: owners and admins read their organisation's log, newest
first, filtered and paginated; members get 403; other organisations see nothing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.integration.conftest import User, create_project, member_of, signup


async def _audit(client: httpx.AsyncClient, user: User, **params: Any) -> httpx.Response:
    return await client.get("/api/v1/audit", params=params, headers=user.headers)


async def test_owner_reads_filters_and_pages_the_log(client: httpx.AsyncClient) -> None:
    owner = await signup(client)
    await client.post("/api/v1/auth/login", json={"email": owner.email, "password": "wrong one!"})
    await client.post(
        "/api/v1/auth/login", json={"email": owner.email, "password": "correct horse"}
    )
    project = await create_project(client, owner)

    r = await _audit(client, owner)
    assert r.status_code == 200
    actions = [i["action"] for i in r.json()["items"]]
    assert actions[:4] == ["project.created", "auth.login", "auth.login_failed", "user.signup"]
    assert r.json()["items"][0]["target_id"] == project["id"]
    assert all(i["actor_id"] == owner.id for i in r.json()["items"])

    only = await _audit(client, owner, action="auth.login_failed")
    assert [i["action"] for i in only.json()["items"]] == ["auth.login_failed"]

    first = await _audit(client, owner, limit=2)
    assert len(first.json()["items"]) == 2 and first.json()["next_cursor"]
    rest = await _audit(client, owner, limit=2, cursor=first.json()["next_cursor"])
    ids = [i["id"] for i in first.json()["items"] + rest.json()["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)

    future = await _audit(client, owner, since="2999-01-01T00:00:00Z")
    assert future.json()["items"] == []
    naive = await _audit(client, owner, since="2026-01-01T00:00:00")
    assert naive.status_code == 422


async def test_members_get_403_and_other_orgs_see_nothing(
    client: httpx.AsyncClient, alice: User, mallory: User, db: Any
) -> None:
    bob = await member_of(client, db, alice, "Bob")
    r = await _audit(client, bob)
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"

    theirs = await _audit(client, mallory, limit=200)
    assert theirs.status_code == 200
    assert all(i["actor_id"] != alice.id for i in theirs.json()["items"])
    assert (await client.get("/api/v1/audit")).status_code == 401


async def test_project_changes_made_by_the_grain_are_audited_in_their_commit(
    client: httpx.AsyncClient, db: Any
) -> None:
    owner = await signup(client)
    project = await create_project(client, owner)
    pid = project["id"]
    headers = owner.headers
    assert (
        await client.patch(f"/api/v1/projects/{pid}", json={"name": "Renamed"}, headers=headers)
    ).status_code == 200
    labels = {"labels": [{"name": "bug", "color": "#d73a4a"}]}
    assert (
        await client.put(f"/api/v1/projects/{pid}/labels", json=labels, headers=headers)
    ).status_code == 200
    task = await client.post(
        "/api/v1/tasks", json={"project_id": pid, "title": "Doomed"}, headers=headers
    )
    assert (
        await client.delete(f"/api/v1/tasks/{task.json()['id']}", headers=headers)
    ).status_code == 204
    assert (await client.delete(f"/api/v1/projects/{pid}", headers=headers)).status_code == 204

    items = (await _audit(client, owner, limit=20)).json()["items"]
    ours = [(i["action"], i["target_id"]) for i in items if i["action"] != "auth.login"]
    assert ours[:4] == [
        ("project.deleted", pid),
        ("task.deleted", task.json()["id"]),
        ("project.labels_updated", pid),
        ("project.updated", pid),
    ]
    renamed = next(i for i in items if i["action"] == "project.updated")
    assert renamed["details"]["name"] == "Renamed" and renamed["actor_id"] == owner.id
    # The row names the event it records.
    version = await db.fetchval(
        "SELECT version FROM events WHERE project_id = $1 AND type = 'project.updated'",
        uuid.UUID(pid),
    )
    assert renamed["details"]["version"] == version


async def test_a_row_carries_the_request_id_of_the_request_that_made_it(
    client: httpx.AsyncClient,
) -> None:
    owner = await signup(client)
    rid = f"audit-{uuid.uuid4().hex[:12]}"
    r = await client.post(
        "/api/v1/projects",
        json={"name": "Traced"},
        headers={**owner.headers, "X-Request-ID": rid},
    )
    assert r.status_code == 201 and r.headers["x-request-id"] == rid
    items = (await _audit(client, owner, action="project.created")).json()["items"]
    assert [(i["target_id"], i["request_id"]) for i in items] == [(r.json()["id"], rid)]
    # Without the header the API makes one up, and the row has that one.
    r = await client.post("/api/v1/projects", json={"name": "Untraced"}, headers=owner.headers)
    made = r.headers["x-request-id"]
    items = (await _audit(client, owner, action="project.created")).json()["items"]
    assert items[0]["target_id"] == r.json()["id"] and items[0]["request_id"] == made
