"""Saved views: CRUD, canonical queries, sharing with a project or team, and who
may see or change them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.integration.conftest import User, create_project, member_of


async def test_view_crud_and_sharing(
    client: httpx.AsyncClient, alice: User, mallory: User, db: Any
) -> None:
    project = await create_project(client, alice)
    r = await client.post(
        "/api/v1/views",
        json={"name": "Mine", "query": "assignee:me,status:open  sort:updated-desc"},
        headers=alice.headers,
    )
    assert r.status_code == 201, r.text
    mine = r.json()
    assert mine["query"] == "assignee:me AND status:open sort:updated-desc"
    assert mine["visibility"] == "private"
    r = await client.post(
        "/api/v1/views",
        json={
            "name": "Team bugs",
            "query": "label:bug",
            "visibility": "project",
            "project_id": project["id"],
        },
        headers=alice.headers,
    )
    assert r.status_code == 201, r.text
    shared = r.json()

    bob = await member_of(client, db, alice, "Bob")
    r = await client.get("/api/v1/views", headers=bob.headers)
    assert [v["id"] for v in r.json()["items"]] == [shared["id"]]
    assert (await client.get(f"/api/v1/views/{mine['id']}", headers=bob.headers)).status_code == 404
    assert (
        await client.get(f"/api/v1/views/{shared['id']}", headers=bob.headers)
    ).status_code == 200
    r = await client.patch(f"/api/v1/views/{shared['id']}", json={"name": "x"}, headers=bob.headers)
    assert r.status_code == 403
    assert (
        await client.delete(f"/api/v1/views/{shared['id']}", headers=bob.headers)
    ).status_code == 403
    for method in ("get", "delete"):
        r = await getattr(client, method)(f"/api/v1/views/{shared['id']}", headers=mallory.headers)
        assert r.status_code == 404
    assert (await client.get("/api/v1/views", headers=mallory.headers)).json()["items"] == []

    r = await client.patch(
        f"/api/v1/views/{mine['id']}", json={"query": "label:x OR label:y"}, headers=alice.headers
    )
    assert r.status_code == 200 and r.json()["query"] == "label:x OR label:y"
    r = await client.patch(
        f"/api/v1/views/{mine['id']}",
        json={"visibility": "project", "project_id": project["id"]},
        headers=alice.headers,
    )
    assert r.status_code == 200 and r.json()["project_id"] == project["id"]
    assert (
        await client.delete(f"/api/v1/views/{mine['id']}", headers=alice.headers)
    ).status_code == 204
    assert (
        await client.get(f"/api/v1/views/{mine['id']}", headers=alice.headers)
    ).status_code == 404


async def test_bad_views_are_rejected(
    client: httpx.AsyncClient, alice: User, mallory: User
) -> None:
    r = await client.post(
        "/api/v1/views", json={"name": "x", "query": "status:open ("}, headers=alice.headers
    )
    assert r.status_code == 400 and r.json()["position"] == 13
    other = await create_project(client, mallory)
    r = await client.post(
        "/api/v1/views",
        json={"name": "x", "query": "bug", "visibility": "project", "project_id": other["id"]},
        headers=alice.headers,
    )
    assert r.status_code == 422
    r = await client.post(
        "/api/v1/views",
        json={"name": "x", "query": "bug", "visibility": "team", "team_id": str(uuid.uuid4())},
        headers=alice.headers,
    )
    assert r.status_code == 422
    r = await client.post("/api/v1/views", json={"name": "", "query": "bug"}, headers=alice.headers)
    assert r.status_code == 422
