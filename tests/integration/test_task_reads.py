"""Task reads answered from the grain's encoded JSON, and the replicas' cached task
references: every read follows each commit, and a deleted task is 404 even where
its reference is cached."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.integration.conftest import User, create_task
from tests.stack_fixtures import own_replica_urls


async def _reads(client: httpx.AsyncClient, user: User, pid: str) -> dict[str, Any]:
    """One task, the project's list and its board, as the API answers them now."""
    listed = await client.get(
        "/api/v1/tasks", params={"project_id": pid, "limit": 200}, headers=user.headers
    )
    board = await client.get(f"/api/v1/projects/{pid}/board", headers=user.headers)
    assert listed.status_code == board.status_code == 200
    cards = {t["id"]: t for c in board.json()["columns"] for t in c["tasks"]}
    return {"items": {t["id"]: t for t in listed.json()["items"]}, "cards": cards}


async def _agree(client: httpx.AsyncClient, user: User, pid: str, task: dict[str, Any]) -> None:
    """GET, the list and the board all answer exactly the write's reply."""
    got = await client.get(f"/api/v1/tasks/{task['id']}", headers=user.headers)
    assert got.status_code == 200
    assert got.headers["etag"] == f'"{task["version"]}"'
    assert got.headers["content-type"] == "application/json"
    assert got.json() == task
    reads = await _reads(client, user, pid)
    assert reads["items"][task["id"]] == task
    assert reads["cards"][task["id"]] == task


async def test_task_list_and_board_reads_follow_every_commit(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    pid = project["id"]
    tasks = [
        await create_task(client, alice, pid, title=f"Tâche {n} ☃", estimate=n + 0.5)
        for n in range(3)
    ]
    for task in tasks:  # the grain now holds every task's JSON and the board order
        await _agree(client, alice, pid, task)

    r = await client.patch(
        f"/api/v1/tasks/{tasks[0]['id']}",
        json={"title": "renamed", "priority": "urgent", "due_date": "2030-01-02"},
        headers=alice.headers,
    )
    assert r.status_code == 200
    tasks[0] = r.json()
    await _agree(client, alice, pid, tasks[0])

    r = await client.post(
        f"/api/v1/tasks/{tasks[2]['id']}/move",
        json={"status": "todo", "before_id": None},
        headers=alice.headers,
    )
    assert r.status_code == 200, r.text
    tasks[2] = r.json()
    await _agree(client, alice, pid, tasks[2])
    r = await client.post(
        f"/api/v1/tasks/{tasks[1]['id']}/move",
        json={"status": "todo", "before_id": tasks[2]["id"]},
        headers=alice.headers,
    )
    assert r.status_code == 200, r.text
    tasks[1] = r.json()
    board = (await client.get(f"/api/v1/projects/{pid}/board", headers=alice.headers)).json()
    todo = next(c for c in board["columns"] if c["status"]["id"] == "todo")
    assert [t["id"] for t in todo["tasks"]] == [tasks[1]["id"], tasks[2]["id"]]
    assert todo["count"] == 2

    r = await client.delete(f"/api/v1/tasks/{tasks[0]['id']}", headers=alice.headers)
    assert r.status_code == 204
    reads = await _reads(client, alice, pid)
    assert tasks[0]["id"] not in reads["items"] and tasks[0]["id"] not in reads["cards"]
    for task in tasks[1:]:
        await _agree(client, alice, pid, task)

    r = await client.get(
        "/api/v1/tasks", params={"project_id": pid, "limit": 1}, headers=alice.headers
    )
    page = r.json()
    assert [t["id"] for t in page["items"]] == [tasks[1]["id"]] and page["next_cursor"]
    r = await client.get(
        "/api/v1/tasks",
        params={"project_id": pid, "limit": 1, "cursor": page["next_cursor"]},
        headers=alice.headers,
    )
    assert r.json() == {"items": [tasks[2]], "next_cursor": None}


async def test_a_deleted_task_is_404_on_every_replica_that_cached_its_reference(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    task = await create_task(client, alice, project["id"])
    refs = (task["id"], task["key"])
    replicas = own_replica_urls()
    assert len(replicas) == 2, replicas
    for url in replicas:  # each replica resolves both references once and keeps them
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as direct:
            for ref in refs:
                r = await direct.get(f"/api/v1/tasks/{ref}", headers=alice.headers)
                assert r.status_code == 200

    r = await client.delete(f"/api/v1/tasks/{task['id']}", headers=alice.headers)
    assert r.status_code == 204

    for url in replicas:
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as direct:
            for ref in refs:
                for method, path, body in (
                    ("GET", "", None),
                    ("PATCH", "", {"title": "x"}),
                    ("POST", "/move", {"status": "done"}),
                    ("GET", "/transitions", None),
                    ("GET", "/activity", None),
                    ("GET", "/comments", None),
                    ("POST", "/comments", {"body": "still there?"}),
                    ("GET", "/attachments", None),
                    ("DELETE", "", None),
                ):
                    r = await direct.request(
                        method, f"/api/v1/tasks/{ref}{path}", json=body, headers=alice.headers
                    )
                    assert r.status_code == 404, (url, method, ref, path, r.text)


async def test_a_cached_reference_is_no_way_into_another_organisation(
    client: httpx.AsyncClient, alice: User, mallory: User, project: dict[str, Any]
) -> None:
    task = await create_task(client, alice, project["id"])
    for url in own_replica_urls():
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as direct:
            for ref in (task["id"], task["key"]):
                assert (await direct.get(f"/api/v1/tasks/{ref}", headers=alice.headers)).is_success
                r = await direct.get(f"/api/v1/tasks/{ref}", headers=mallory.headers)
                assert r.status_code == 404
    r = await client.get(f"/api/v1/tasks/{uuid.uuid4()}", headers=alice.headers)
    assert r.status_code == 404
