"""Workflows, boards, sprints, activity and bulk edits through the API, on the real
stack: enforcement in the grain, atomic commits, and consistent card order."""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

import httpx

from tests.integration.conftest import User, create_task

STRICT = [
    {"from": "backlog", "to": "todo"},
    {"from": "todo", "to": "in_progress", "name": "Start", "conditions": ["assignee_set"]},
    {"from": "in_progress", "to": "in_review"},
    {"from": "in_review", "to": "done"},
    {"from": "*", "to": "backlog", "roles": ["owner", "admin"]},
]


async def put_workflow(
    client: httpx.AsyncClient, user: User, project_id: str, **changes: Any
) -> httpx.Response:
    r = await client.get(f"/api/v1/projects/{project_id}/workflow", headers=user.headers)
    assert r.status_code == 200, r.text
    body = {**r.json(), **changes}
    return await client.put(
        f"/api/v1/projects/{project_id}/workflow", json=body, headers=user.headers
    )


async def test_default_workflow_is_kanban(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    r = await client.get(f"/api/v1/projects/{project['id']}/workflow", headers=alice.headers)
    assert r.status_code == 200
    wf = r.json()
    assert wf["version"] == 1
    assert [s["id"] for s in wf["statuses"]] == [
        "backlog",
        "todo",
        "in_progress",
        "in_review",
        "done",
    ]
    assert {s["category"] for s in wf["statuses"]} == {"todo", "in_progress", "done"}
    assert all(t["from"] == "*" for t in wf["transitions"])


async def test_forbidden_transitions_are_409_with_the_allowed_list(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any], db: Any
) -> None:
    pid = project["id"]
    r = await put_workflow(client, alice, pid, transitions=STRICT)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    task = await create_task(client, alice, pid)
    url = f"/api/v1/tasks/{task['id']}"

    for attempt in (
        client.patch(url, json={"status": "done"}, headers=alice.headers),
        client.put(url, json={"status": "done"}, headers=alice.headers),
        client.post(f"{url}/transitions", json={"to": "done"}, headers=alice.headers),
        client.post(f"{url}/move", json={"status": "done"}, headers=alice.headers),
    ):
        r = await attempt
        assert r.status_code == 409, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["allowed"] == ["todo"]

    available = await client.get(f"{url}/transitions", headers=alice.headers)
    assert [t["to"] for t in available.json()["transitions"]] == ["todo"]
    r = await client.post(f"{url}/transitions", json={"to": "todo"}, headers=alice.headers)
    assert r.status_code == 200 and r.json()["status"] == "todo"

    # a condition: "Start" needs an assignee
    r = await client.post(f"{url}/transitions", json={"to": "in_progress"}, headers=alice.headers)
    assert r.status_code == 409 and "assignee" in r.json()["detail"]
    available = (await client.get(f"{url}/transitions", headers=alice.headers)).json()
    assert [t["to"] for t in available["unavailable"]] == ["in_progress"]
    r = await client.patch(
        url, json={"status": "in_progress", "assignee_id": alice.id}, headers=alice.headers
    )
    assert r.status_code == 200 and r.json()["status"] == "in_progress"
    # roles: alice owns her organisation, so the owner/admin-only reset is open to her
    r = await client.post(f"{url}/transitions", json={"to": "backlog"}, headers=alice.headers)
    assert r.status_code == 200
    row = await db.fetchrow(
        "SELECT status, version FROM tasks WHERE id = $1", uuid.UUID(task["id"])
    )
    assert dict(row) == {"status": "backlog", "version": 4}


async def test_workflow_validation_and_wip_limit(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    pid = project["id"]
    r = await put_workflow(client, alice, pid, transitions=[{"from": "backlog", "to": "todo"}])
    assert r.status_code == 422  # in_progress, in_review, done unreachable
    r = await put_workflow(client, alice, pid, version=7)
    assert r.status_code == 412
    wf = (await client.get(f"/api/v1/projects/{pid}/workflow", headers=alice.headers)).json()
    for s in wf["statuses"]:
        s["wip_limit"] = 1 if s["id"] == "in_progress" else None
    assert (await put_workflow(client, alice, pid, statuses=wf["statuses"])).status_code == 200
    a = await create_task(client, alice, pid, status="in_progress")
    b = await create_task(client, alice, pid)
    r = await client.post(
        f"/api/v1/tasks/{b['id']}/move", json={"status": "in_progress"}, headers=alice.headers
    )
    assert r.status_code == 409 and r.json()["wip_limit"] == 1
    r = await client.patch(
        f"/api/v1/projects/{pid}", json={"settings": {"wip_mode": "warn"}}, headers=alice.headers
    )
    assert r.status_code == 200
    r = await client.post(
        f"/api/v1/tasks/{b['id']}/move", json={"status": "in_progress"}, headers=alice.headers
    )
    assert r.status_code == 200
    board = (await client.get(f"/api/v1/projects/{pid}/board", headers=alice.headers)).json()
    column = next(c for c in board["columns"] if c["status"]["id"] == "in_progress")
    assert column["count"] == 2 and [t["id"] for t in column["tasks"]] == [a["id"], b["id"]]


async def test_status_removal_moves_tasks_in_the_same_commit(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any], db: Any
) -> None:
    pid = project["id"]
    tasks = [await create_task(client, alice, pid, status="in_review") for _ in range(3)]
    other = await create_task(client, alice, pid, status="todo")
    wf = (await client.get(f"/api/v1/projects/{pid}/workflow", headers=alice.headers)).json()
    statuses = [s for s in wf["statuses"] if s["id"] != "in_review"]
    transitions = [t for t in wf["transitions"] if t["to"] != "in_review"]
    r = await put_workflow(client, alice, pid, statuses=statuses, transitions=transitions)
    assert r.status_code == 422 and "in_review" in r.json()["detail"]
    before = await db.fetchval("SELECT version FROM projects WHERE id = $1", uuid.UUID(pid))
    r = await put_workflow(
        client, alice, pid, statuses=statuses, transitions=transitions, moves={"in_review": "done"}
    )
    assert r.status_code == 200, r.text
    assert "in_review" not in [s["id"] for s in r.json()["statuses"]]
    rows = await db.fetch(
        "SELECT id, status, version FROM tasks WHERE project_id = $1", uuid.UUID(pid)
    )
    by_id = {str(row["id"]): row for row in rows}
    assert all(by_id[t["id"]]["status"] == "done" for t in tasks)
    assert all(by_id[t["id"]]["version"] == 2 for t in tasks)
    assert by_id[other["id"]]["status"] == "todo"
    events = await db.fetch(
        "SELECT version, type FROM events WHERE project_id = $1 AND version > $2 ORDER BY version",
        uuid.UUID(pid),
        before,
    )
    assert [e["type"] for e in events] == ["workflow.updated"] + ["task.updated"] * 3
    assert [e["version"] for e in events] == list(range(before + 1, before + 5))
    stored = await db.fetchval(
        "SELECT workflow->>'version' FROM projects WHERE id = $1", uuid.UUID(pid)
    )
    assert stored == "2"
    listed = await client.get(
        "/api/v1/tasks", params={"project_id": pid, "status": "done"}, headers=alice.headers
    )
    assert {t["id"] for t in listed.json()["items"]} == {t["id"] for t in tasks}


async def test_concurrent_moves_keep_one_consistent_order(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any], db: Any
) -> None:
    pid = project["id"]
    cards = [(await create_task(client, alice, pid, title=f"c{i}"))["id"] for i in range(20)]
    columns = ["backlog", "todo", "in_progress"]

    async def mover(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(12):
            card = rng.choice(cards)
            board = (
                await client.get(f"/api/v1/projects/{pid}/board", headers=alice.headers)
            ).json()
            status = rng.choice(columns)
            column = next(c for c in board["columns"] if c["status"]["id"] == status)
            others = [t["id"] for t in column["tasks"] if t["id"] != card]
            body: dict[str, Any] = {"status": status}
            if others and rng.random() < 0.7:
                body[rng.choice(["before_id", "after_id"])] = rng.choice(others)
            r = await client.post(f"/api/v1/tasks/{card}/move", json=body, headers=alice.headers)
            # a neighbour may have left the column meanwhile: then the move is refused
            assert r.status_code in (200, 422), r.text

    await asyncio.gather(*(mover(seed) for seed in range(5)))
    board = (await client.get(f"/api/v1/projects/{pid}/board", headers=alice.headers)).json()
    seen = [t["id"] for c in board["columns"] for t in c["tasks"]]
    assert sorted(seen) == sorted(cards)
    rows = await db.fetch(
        'SELECT id, status, rank FROM tasks WHERE project_id = $1 ORDER BY rank COLLATE "C"',
        uuid.UUID(pid),
    )
    ranks = [r["rank"] for r in rows]
    assert len(set(ranks)) == 20 and ranks == sorted(ranks)
    for column in board["columns"]:
        in_db = [str(r["id"]) for r in rows if r["status"] == column["status"]["id"]]
        assert [t["id"] for t in column["tasks"]] == in_db
        assert column["count"] == len(in_db)


async def test_status_filters_by_id_category_and_open(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    pid = project["id"]
    a = await create_task(client, alice, pid, status="in_review")
    b = await create_task(client, alice, pid, status="done")
    c = await create_task(client, alice, pid, status="todo")

    async def ids(**params: Any) -> list[str]:
        r = await client.get("/api/v1/tasks", params=params, headers=alice.headers)
        assert r.status_code == 200, r.text
        return [t["id"] for t in r.json()["items"] if t["project_id"] == pid]

    for scope in ({"project_id": pid}, {}):
        assert await ids(status="open", **scope) == [a["id"], c["id"]]
        assert await ids(status="in_review", **scope) == [a["id"]]
        assert await ids(status="done", **scope) == [b["id"]]
        assert await ids(status="todo", **scope) == [c["id"]]  # the id wins over the category


async def test_long_ranks_are_rebalanced_in_the_background(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any], db: Any
) -> None:
    pid = project["id"]
    cards = [(await create_task(client, alice, pid))["id"] for _ in range(3)]
    order = list(cards)
    seen_longest = 0
    for _ in range(120):  # the last card to the top, again and again: ranks grow
        card = order.pop()
        r = await client.post(
            f"/api/v1/tasks/{card}/move", json={"before_id": order[0]}, headers=alice.headers
        )
        assert r.status_code == 200, r.text
        seen_longest = max(seen_longest, len(r.json()["rank"]))
        order.insert(0, card)
    assert seen_longest > 12
    for _ in range(50):
        longest = await db.fetchval(
            "SELECT max(length(rank)) FROM tasks WHERE project_id = $1", uuid.UUID(pid)
        )
        if longest <= 12:
            break
        await asyncio.sleep(0.1)
    assert longest <= 12
    board = (await client.get(f"/api/v1/projects/{pid}/board", headers=alice.headers)).json()
    assert [t["id"] for t in board["columns"][0]["tasks"]] == order
    reranked = await db.fetchval(
        "SELECT count(*) FROM events WHERE project_id = $1 AND type = 'tasks.reranked'",
        uuid.UUID(pid),
    )
    assert reranked >= 1
