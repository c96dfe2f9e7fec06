"""The task API: the brief's endpoints, validation, pagination, idempotency, and
the tenant fence."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx

from tests.integration.conftest import User, create_project, create_task, signup


async def test_create_get_by_id_and_key(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    r = await client.post(
        "/api/v1/tasks",
        json={
            "project_id": project["id"],
            "title": "Fix login",
            "description": "*now*",
            "priority": "high",
            "assignee_id": alice.id,
        },
        headers=alice.headers,
    )
    assert r.status_code == 201
    task = r.json()
    assert task["key"] == f"{project['key']}-1"
    assert task["status"] == "backlog" and task["priority"] == "high"  # Kanban's first
    assert task["assignee_id"] == alice.id and task["reporter_id"] == alice.id
    assert task["version"] == 1
    assert r.headers["etag"] == '"1"'
    assert r.headers["location"] == f"/api/v1/tasks/{task['id']}"

    by_id = await client.get(f"/api/v1/tasks/{task['id']}", headers=alice.headers)
    by_key = await client.get(f"/api/v1/tasks/{task['key']}", headers=alice.headers)
    assert by_id.status_code == by_key.status_code == 200
    assert by_id.json() == by_key.json() == task
    assert by_id.headers["etag"] == '"1"'


async def test_keys_are_sequential_per_project(client: httpx.AsyncClient, alice: User) -> None:
    p1 = await create_project(client, alice)
    p2 = await create_project(client, alice)
    keys1 = [(await create_task(client, alice, p1["id"]))["key"] for _ in range(3)]
    keys2 = [(await create_task(client, alice, p2["id"]))["key"] for _ in range(2)]
    assert keys1 == [f"{p1['key']}-{n}" for n in (1, 2, 3)]
    assert keys2 == [f"{p2['key']}-{n}" for n in (1, 2)]


async def test_update_put_and_patch(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any], db: asyncpg.Connection
) -> None:
    task = await create_task(client, alice, project["id"])
    r = await client.put(
        f"/api/v1/tasks/{task['id']}",
        json={"status": "in_progress", "priority": "urgent"},
        headers={**alice.headers, "If-Match": '"1"'},
    )
    assert r.status_code == 200
    assert r.json()["status"] == "in_progress" and r.json()["version"] == 2
    assert r.headers["etag"] == '"2"'
    r = await client.patch(
        f"/api/v1/tasks/{task['key']}", json={"title": "Renamed"}, headers=alice.headers
    )
    assert r.status_code == 200 and r.json()["title"] == "Renamed" and r.json()["version"] == 3
    assert r.json()["priority"] == "urgent"
    row = await db.fetchrow(
        "SELECT title, status, priority, version FROM tasks WHERE id = $1", uuid.UUID(task["id"])
    )
    assert dict(row) == {
        "title": "Renamed",
        "status": "in_progress",
        "priority": "urgent",
        "version": 3,
    }


async def test_unassign_with_null_and_noop_keeps_version(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    task = await create_task(client, alice, project["id"], assignee_id=alice.id)
    r = await client.put(
        f"/api/v1/tasks/{task['id']}", json={"assignee_id": None}, headers=alice.headers
    )
    assert r.json()["assignee_id"] is None and r.json()["version"] == 2
    same = await client.put(
        f"/api/v1/tasks/{task['id']}", json={"assignee_id": None}, headers=alice.headers
    )
    assert same.status_code == 200 and same.json()["version"] == 2


async def test_stale_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    task = await create_task(client, alice, project["id"])
    await client.put(f"/api/v1/tasks/{task['id']}", json={"title": "v2"}, headers=alice.headers)
    r = await client.put(
        f"/api/v1/tasks/{task['id']}",
        json={"title": "stale"},
        headers={**alice.headers, "If-Match": '"1"'},
    )
    assert r.status_code == 412
    assert r.json()["current_version"] == 2
    current = await client.get(f"/api/v1/tasks/{task['id']}", headers=alice.headers)
    assert current.json()["title"] == "v2"
    bad = await client.put(
        f"/api/v1/tasks/{task['id']}",
        json={"title": "x"},
        headers={**alice.headers, "If-Match": "banana"},
    )
    assert bad.status_code == 422


async def test_delete_then_404(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any], db: asyncpg.Connection
) -> None:
    task = await create_task(client, alice, project["id"])
    r = await client.delete(f"/api/v1/tasks/{task['id']}", headers=alice.headers)
    assert r.status_code == 204
    for ref in (task["id"], task["key"]):
        assert (await client.get(f"/api/v1/tasks/{ref}", headers=alice.headers)).status_code == 404
    assert (
        await client.put(f"/api/v1/tasks/{task['id']}", json={"title": "x"}, headers=alice.headers)
    ).status_code == 404
    assert (
        await client.delete(f"/api/v1/tasks/{task['id']}", headers=alice.headers)
    ).status_code == 404
    assert await db.fetchval("SELECT count(*) FROM tasks WHERE id = $1", uuid.UUID(task["id"])) == 0
    events = await db.fetch(
        "SELECT version, type FROM events WHERE project_id = $1 ORDER BY version",
        uuid.UUID(project["id"]),
    )
    assert [e["type"] for e in events] == ["task.created", "task.deleted"]
    assert [e["version"] for e in events] == [1, 2]


async def test_validation_errors(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    pid = project["id"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"project_id": pid}, "title"),
        ({"project_id": pid, "title": ""}, "title"),
        ({"project_id": pid, "title": "x" * 256}, "title"),
        ({"project_id": pid, "title": "ok", "description": "d" * (100 * 1024 + 1)}, "description"),
        ({"project_id": pid, "title": "ok", "priority": "critical"}, "priority"),
        ({"project_id": pid, "title": "ok", "status": "nonsense"}, "status"),
        ({"project_id": pid, "title": "ok", "assignee_id": "me"}, "assignee_id"),
        ({"project_id": pid, "title": "ok", "assignee_id": str(uuid.uuid4())}, "assignee_id"),
        ({"project_id": "nope", "title": "ok"}, "project_id"),
    ]
    for body, field in cases:
        r = await client.post("/api/v1/tasks", json=body, headers=alice.headers)
        assert r.status_code == 422, (body, r.text)
        problem = r.json()
        assert field in problem["detail"] or any(
            e["loc"][-1] == field for e in problem.get("errors", [])
        ), problem
    not_json = await client.post(
        "/api/v1/tasks",
        content=b"{oops",
        headers={**alice.headers, "content-type": "application/json"},
    )
    assert not_json.status_code == 422


async def test_server_owned_fields_are_422(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    task = await create_task(client, alice, project["id"])
    for field, value in [
        ("id", str(uuid.uuid4())),
        ("org_id", alice.org_id),
        ("reporter_id", alice.id),
        ("version", 9),
        ("created_at", "2020-01-01T00:00:00Z"),
        ("key", "X-1"),
    ]:
        r = await client.post(
            "/api/v1/tasks",
            json={"project_id": project["id"], "title": "t", field: value},
            headers=alice.headers,
        )
        assert r.status_code == 422, field
        r = await client.put(
            f"/api/v1/tasks/{task['id']}", json={field: value}, headers=alice.headers
        )
        assert r.status_code == 422, field
    moved = await client.put(
        f"/api/v1/tasks/{task['id']}", json={"project_id": str(uuid.uuid4())}, headers=alice.headers
    )
    assert moved.status_code == 422
    assert (await client.get(f"/api/v1/tasks/{task['id']}", headers=alice.headers)).json()[
        "version"
    ] == 1


async def test_list_filters(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    pid = project["id"]
    a = await create_task(client, alice, pid, title="a", priority="high", assignee_id=alice.id)
    b = await create_task(client, alice, pid, title="b", status="done")
    c = await create_task(client, alice, pid, title="c", priority="high")

    async def keys(**params: Any) -> list[str]:
        r = await client.get(
            "/api/v1/tasks", params={"project_id": pid, **params}, headers=alice.headers
        )
        assert r.status_code == 200, r.text
        return [t["key"] for t in r.json()["items"]]

    assert await keys() == [a["key"], b["key"], c["key"]]
    assert await keys(status="open") == [a["key"], c["key"]]
    assert await keys(status="done") == [b["key"]]
    assert await keys(priority="high") == [a["key"], c["key"]]
    assert await keys(assignee_id=alice.id) == [a["key"]]
    assert await keys(assignee_id="none") == [b["key"], c["key"]]
    assert await keys(status="open", priority="high", assignee_id=alice.id) == [a["key"]]
    for bad in (
        {"limit": 0},
        {"limit": 201},
        {"priority": "x"},
        {"assignee_id": "bob"},
        {"cursor": "!!"},
    ):
        r = await client.get(
            "/api/v1/tasks", params={"project_id": pid, **bad}, headers=alice.headers
        )
        assert r.status_code == 422, bad


async def test_pagination_is_stable_under_concurrent_inserts(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    pid = project["id"]
    created = [await create_task(client, alice, pid, title=f"t{i}") for i in range(25)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"project_id": pid, "limit": 10}
        if cursor:
            params["cursor"] = cursor
        r = await client.get("/api/v1/tasks", params=params, headers=alice.headers)
        assert r.status_code == 200
        seen += [t["id"] for t in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        pages += 1
        if pages == 1:  # others keep adding tasks while we page
            await asyncio.gather(*(create_task(client, alice, pid, title="late") for _ in range(5)))
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 30
    assert seen[:25] == [t["id"] for t in created]


async def test_org_wide_list_without_project(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    p1, p2 = await create_project(client, user), await create_project(client, user)
    made = [
        await create_task(client, user, pid, priority="low")
        for pid in (p1["id"], p2["id"], p1["id"])
    ]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, "priority": "low"}
        if cursor:
            params["cursor"] = cursor
        r = await client.get("/api/v1/tasks", params=params, headers=user.headers)
        assert r.status_code == 200
        seen += [t["id"] for t in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == [t["id"] for t in made]


async def test_idempotency_key_replays_first_response(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any], db: asyncpg.Connection
) -> None:
    headers = {**alice.headers, "Idempotency-Key": str(uuid.uuid4())}
    body = {"project_id": project["id"], "title": "only once"}
    first, second = await asyncio.gather(
        client.post("/api/v1/tasks", json=body, headers=headers),
        client.post("/api/v1/tasks", json=body, headers=headers),
    )
    third = await client.post("/api/v1/tasks", json=body, headers=headers)
    assert first.status_code == second.status_code == third.status_code == 201
    assert first.json() == second.json() == third.json()
    count = await db.fetchval(
        "SELECT count(*) FROM tasks WHERE project_id = $1 AND title = 'only once'",
        uuid.UUID(project["id"]),
    )
    assert count == 1
    different = await client.post("/api/v1/tasks", json={**body, "title": "other"}, headers=headers)
    assert different.status_code == 422
    assert "Idempotency-Key" in different.json()["detail"]


async def test_other_org_gets_404_on_every_task_endpoint(
    client: httpx.AsyncClient, alice: User, mallory: User, project: dict[str, Any]
) -> None:
    task = await create_task(client, alice, project["id"])
    for ref in (task["id"], task["key"]):
        url = f"/api/v1/tasks/{ref}"
        assert (await client.get(url, headers=mallory.headers)).status_code == 404
        assert (
            await client.put(url, json={"title": "x"}, headers=mallory.headers)
        ).status_code == 404
        assert (
            await client.patch(url, json={"title": "x"}, headers=mallory.headers)
        ).status_code == 404
        assert (await client.delete(url, headers=mallory.headers)).status_code == 404
    r = await client.post(
        "/api/v1/tasks", json={"project_id": project["id"], "title": "x"}, headers=mallory.headers
    )
    assert r.status_code == 404
    r = await client.get(
        "/api/v1/tasks", params={"project_id": project["id"]}, headers=mallory.headers
    )
    assert r.status_code == 404
    r = await client.get("/api/v1/tasks", headers=mallory.headers)
    assert task["id"] not in [t["id"] for t in r.json()["items"]]
    r = await client.post(
        "/api/v1/tasks",
        json={"project_id": project["id"], "title": "x", "assignee_id": mallory.id},
        headers=alice.headers,
    )
    assert r.status_code == 422
    unchanged = await client.get(f"/api/v1/tasks/{task['id']}", headers=alice.headers)
    assert unchanged.json() == task


async def test_unknown_refs_are_404(client: httpx.AsyncClient, alice: User) -> None:
    for ref in (str(uuid.uuid4()), "NOPE-1", "garbage", "WP-0"):
        assert (
            await client.get(f"/api/v1/tasks/{ref}", headers=alice.headers)
        ).status_code == 404, ref
    r = await client.get(
        "/api/v1/tasks", params={"project_id": str(uuid.uuid4())}, headers=alice.headers
    )
    assert r.status_code == 404
