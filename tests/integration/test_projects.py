"""Projects: create (derived and explicit keys), list, read, change, delete, and
the tenant fence."""

from __future__ import annotations

import uuid

import asyncpg
import httpx

from tests.integration.conftest import User, create_project, create_task


async def test_create_derives_key_and_returns_location(
    client: httpx.AsyncClient, alice: User
) -> None:
    r = await client.post(
        "/api/v1/projects",
        json={"name": "Web Platform", "description": "the site"},
        headers=alice.headers,
    )
    assert r.status_code == 201
    body = r.json()
    assert body["key"] == "WP"
    assert body["owner_id"] == alice.id
    assert body["team_ids"] == [] and body["settings"] == {}
    assert r.headers["location"] == f"/api/v1/projects/{body['id']}"
    again = await client.post(
        "/api/v1/projects", json={"name": "Web Portal"}, headers=alice.headers
    )
    assert again.status_code == 201
    assert again.json()["key"] != "WP" and again.json()["key"].startswith("WP")


async def test_explicit_key_clash_is_409_and_bad_key_422(
    client: httpx.AsyncClient, alice: User
) -> None:
    await create_project(client, alice, key="OPS")
    clash = await client.post(
        "/api/v1/projects", json={"name": "x", "key": "OPS"}, headers=alice.headers
    )
    assert clash.status_code == 409
    for key in ["O", "ops", "TOOLONGKEYXX", "A1"]:
        r = await client.post(
            "/api/v1/projects", json={"name": "x", "key": key}, headers=alice.headers
        )
        assert r.status_code == 422, key
        assert r.json()["errors"][0]["loc"][-1] == "key"


async def test_same_key_in_two_orgs_is_fine(
    client: httpx.AsyncClient, alice: User, mallory: User
) -> None:
    await create_project(client, alice, key="SAME")
    await create_project(client, mallory, key="SAME")


async def test_server_owned_fields_are_rejected(client: httpx.AsyncClient, alice: User) -> None:
    for field, value in [
        ("id", str(uuid.uuid4())),
        ("owner_id", alice.id),
        ("version", 4),
        ("org_id", alice.org_id),
        ("created_at", "2020-01-01T00:00:00Z"),
    ]:
        r = await client.post(
            "/api/v1/projects", json={"name": "x", field: value}, headers=alice.headers
        )
        assert r.status_code == 422, field
        assert r.json()["errors"][0]["loc"][-1] == field


async def test_unknown_team_is_422(client: httpx.AsyncClient, alice: User) -> None:
    r = await client.post(
        "/api/v1/projects",
        json={"name": "x", "team_ids": [str(uuid.uuid4())]},
        headers=alice.headers,
    )
    assert r.status_code == 422
    assert "team" in r.json()["detail"]


async def test_list_get_patch_delete(client: httpx.AsyncClient, alice: User) -> None:
    p = await create_project(client, alice, name="Mobile App")
    listed = await client.get("/api/v1/projects", headers=alice.headers)
    assert listed.status_code == 200
    assert p["id"] in [x["id"] for x in listed.json()["items"]]

    got = await client.get(f"/api/v1/projects/{p['id']}", headers=alice.headers)
    assert got.status_code == 200 and got.json()["name"] == "Mobile App"

    patched = await client.patch(
        f"/api/v1/projects/{p['id']}",
        json={"name": "Mobile", "description": "iOS and Android"},
        headers=alice.headers,
    )
    assert patched.status_code == 200
    assert patched.json()["name"] == "Mobile" and patched.json()["key"] == p["key"]
    got = await client.get(f"/api/v1/projects/{p['id']}", headers=alice.headers)
    assert got.json()["description"] == "iOS and Android"

    key_change = await client.patch(
        f"/api/v1/projects/{p['id']}", json={"key": "NEW"}, headers=alice.headers
    )
    assert key_change.status_code == 422

    deleted = await client.delete(f"/api/v1/projects/{p['id']}", headers=alice.headers)
    assert deleted.status_code == 204
    assert (
        await client.get(f"/api/v1/projects/{p['id']}", headers=alice.headers)
    ).status_code == 404
    listed = await client.get("/api/v1/projects", headers=alice.headers)
    assert p["id"] not in [x["id"] for x in listed.json()["items"]]


async def test_tasks_of_a_deleted_project_are_gone(client: httpx.AsyncClient, alice: User) -> None:
    p = await create_project(client, alice)
    task = await create_task(client, alice, p["id"])
    assert (
        await client.delete(f"/api/v1/projects/{p['id']}", headers=alice.headers)
    ).status_code == 204
    assert (
        await client.get(f"/api/v1/tasks/{task['id']}", headers=alice.headers)
    ).status_code == 404
    r = await client.post(
        "/api/v1/tasks", json={"project_id": p["id"], "title": "late"}, headers=alice.headers
    )
    assert r.status_code == 404


async def test_custom_statuses_apply_to_tasks(client: httpx.AsyncClient, alice: User) -> None:
    p = await create_project(client, alice, workflow_template="scrum")
    task = await create_task(client, alice, p["id"])
    assert task["status"] == "todo"
    r = await client.put(
        f"/api/v1/tasks/{task['id']}", json={"status": "open"}, headers=alice.headers
    )
    assert r.status_code == 422
    workflow = (
        await client.get(f"/api/v1/projects/{p['id']}/workflow", headers=alice.headers)
    ).json()
    workflow["statuses"] = workflow["statuses"][1:]
    workflow["statuses"].insert(0, {"id": "ready", "name": "Ready", "category": "todo"})
    workflow["transitions"] = [{"from": "*", "to": s["id"]} for s in workflow["statuses"]]
    removing_used = await client.put(
        f"/api/v1/projects/{p['id']}/workflow", json=workflow, headers=alice.headers
    )
    assert removing_used.status_code == 422
    assert "todo" in removing_used.json()["detail"]
    legacy = await client.patch(
        f"/api/v1/projects/{p['id']}",
        json={"settings": {"statuses": ["doing", "done"]}},
        headers=alice.headers,
    )
    assert legacy.status_code == 422


async def test_idempotent_create(
    client: httpx.AsyncClient, alice: User, db: asyncpg.Connection
) -> None:
    headers = {**alice.headers, "Idempotency-Key": f"create-{uuid.uuid4()}"}
    first = await client.post("/api/v1/projects", json={"name": "Once"}, headers=headers)
    again = await client.post("/api/v1/projects", json={"name": "Once"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    count = await db.fetchval(
        "SELECT count(*) FROM projects WHERE org_id = $1 AND name = 'Once'", uuid.UUID(alice.org_id)
    )
    assert count == 1
    other = await client.post("/api/v1/projects", json={"name": "Twice"}, headers=headers)
    assert other.status_code == 422


async def test_other_org_sees_404_everywhere(
    client: httpx.AsyncClient, alice: User, mallory: User
) -> None:
    p = await create_project(client, alice)
    url = f"/api/v1/projects/{p['id']}"
    assert (await client.get(url, headers=mallory.headers)).status_code == 404
    assert (
        await client.patch(url, json={"name": "pwned"}, headers=mallory.headers)
    ).status_code == 404
    assert (await client.delete(url, headers=mallory.headers)).status_code == 404
    listed = await client.get("/api/v1/projects", headers=mallory.headers)
    assert p["id"] not in [x["id"] for x in listed.json()["items"]]
    still = await client.get(url, headers=alice.headers)
    assert still.status_code == 200 and still.json()["name"] == p["name"]


async def test_unknown_and_malformed_ids_are_404_or_422(
    client: httpx.AsyncClient, alice: User
) -> None:
    assert (
        await client.get(f"/api/v1/projects/{uuid.uuid4()}", headers=alice.headers)
    ).status_code == 404
    assert (
        await client.get("/api/v1/projects/not-a-uuid", headers=alice.headers)
    ).status_code == 422
