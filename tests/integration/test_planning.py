"""Planning through the API: sprints, bulk edits across projects, labels, subtasks
with epic progress, a task's activity, and the planning filters of the task list."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.integration.conftest import User, create_project, create_task
from tests.integration.test_workflow_board import STRICT, put_workflow


async def test_sprint_complete_moves_unfinished_tasks(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any], db: Any
) -> None:
    pid = project["id"]
    base = f"/api/v1/projects/{pid}/sprints"
    s1 = (
        await client.post(base, json={"name": "S1", "goal": "ship"}, headers=alice.headers)
    ).json()
    s2 = (await client.post(base, json={"name": "S2"}, headers=alice.headers)).json()
    assert s1["state"] == "planned"
    tasks = [await create_task(client, alice, pid, estimate=2) for _ in range(4)]
    r = await client.post(
        f"{base}/{s1['id']}/tasks",
        json={"add": [t["id"] for t in tasks[:3]]},
        headers=alice.headers,
    )
    assert r.status_code == 200 and len(r.json()["task_ids"]) == 3
    assert (await client.post(f"{base}/{s1['id']}/start", headers=alice.headers)).status_code == 200
    assert (await client.post(f"{base}/{s2['id']}/start", headers=alice.headers)).status_code == 409
    # scope change during the sprint, and one task finished
    await client.patch(
        f"/api/v1/tasks/{tasks[3]['id']}", json={"sprint_id": s1["id"]}, headers=alice.headers
    )
    await client.patch(
        f"/api/v1/tasks/{tasks[0]['id']}", json={"status": "done"}, headers=alice.headers
    )
    r = await client.post(
        f"{base}/{s1['id']}/complete", json={"move_to": s2["id"]}, headers=alice.headers
    )
    assert r.status_code == 200, r.text
    assert set(r.json()["moved_task_ids"]) == {t["id"] for t in tasks[1:]}
    rows = await db.fetch("SELECT id, sprint_id FROM tasks WHERE project_id = $1", uuid.UUID(pid))
    sprint_of = {str(r["id"]): str(r["sprint_id"]) for r in rows}
    assert sprint_of[tasks[0]["id"]] == s1["id"]
    assert all(sprint_of[t["id"]] == s2["id"] for t in tasks[1:])
    states = await db.fetch("SELECT id, state FROM sprints WHERE project_id = $1", uuid.UUID(pid))
    assert {str(r["id"]): r["state"] for r in states} == {
        s1["id"]: "completed",
        s2["id"]: "planned",
    }
    scope = await db.fetch(
        "SELECT payload FROM events WHERE project_id = $1 AND type = 'sprint.scope_changed'",
        uuid.UUID(pid),
    )
    assert len(scope) == 1
    listed = (await client.get(base, headers=alice.headers)).json()["items"]
    assert [s["task_count"] for s in listed] == [1, 3]


async def test_bulk_edit_across_two_projects(
    client: httpx.AsyncClient, alice: User, mallory: User, db: Any
) -> None:
    p1, p2 = await create_project(client, alice), await create_project(client, alice)
    await put_workflow(client, alice, p2["id"], transitions=STRICT)
    t1 = [await create_task(client, alice, p1["id"]) for _ in range(3)]
    t2 = [await create_task(client, alice, p2["id"]) for _ in range(2)]
    foreign = await create_task(client, mallory, (await create_project(client, mallory))["id"])
    refs = [t["id"] for t in t1] + [t2[0]["key"], t2[1]["id"], foreign["id"]]
    r = await client.post(
        "/api/v1/tasks/bulk",
        json={"task_ids": refs, "changes": {"status": "todo", "assignee_id": alice.id}},
        headers=alice.headers,
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["id"] for x in results] == refs
    assert [x["status"] for x in results] == [200, 200, 200, 200, 200, 404]
    r = await client.post(
        "/api/v1/tasks/bulk",
        json={"task_ids": [t["id"] for t in t1 + t2], "changes": {"status": "done"}},
        headers=alice.headers,
    )
    statuses = [x["status"] for x in r.json()["results"]]
    assert statuses == [200, 200, 200, 409, 409]
    assert r.json()["results"][3]["error"]["allowed"] == ["backlog", "in_progress"]
    rows = await db.fetch(
        "SELECT project_id, status, assignee_id FROM tasks WHERE project_id = ANY($1::uuid[])",
        [uuid.UUID(p1["id"]), uuid.UUID(p2["id"])],
    )
    by_project: dict[str, set[str]] = {}
    for row in rows:
        by_project.setdefault(str(row["project_id"]), set()).add(row["status"])
        assert str(row["assignee_id"]) == alice.id
    assert by_project == {p1["id"]: {"done"}, p2["id"]: {"todo"}}
    too_many = await client.post(
        "/api/v1/tasks/bulk",
        json={"task_ids": [str(uuid.uuid4())] * 501, "changes": {"status": "done"}},
        headers=alice.headers,
    )
    assert too_many.status_code == 422


async def test_planning_fields_epic_progress_and_activity(
    client: httpx.AsyncClient, alice: User, mallory: User, project: dict[str, Any]
) -> None:
    pid = project["id"]
    r = await client.put(
        f"/api/v1/projects/{pid}/labels",
        json={"labels": [{"name": "bug", "color": "#ff0000"}, {"name": "ui"}]},
        headers=alice.headers,
    )
    assert r.status_code == 200 and [x["name"] for x in r.json()["labels"]] == ["bug", "ui"]
    epic = await create_task(client, alice, pid, title="Epic", labels=["ui"])
    subs = [
        await create_task(
            client,
            alice,
            pid,
            parent_id=epic["id"],
            estimate=e,
            due_date="2030-01-31",
            start_date="2030-01-01",
            watchers=[alice.id],
        )
        for e in (1, 2, 5)
    ]
    assert subs[0]["parent_id"] == epic["id"] and subs[0]["due_date"] == "2030-01-31"
    bad = await client.patch(
        f"/api/v1/tasks/{epic['id']}", json={"parent_id": subs[0]["id"]}, headers=alice.headers
    )
    assert bad.status_code == 422  # a cycle
    bad = await client.patch(
        f"/api/v1/tasks/{epic['id']}", json={"labels": ["nope"]}, headers=alice.headers
    )
    assert bad.status_code == 422
    await client.patch(
        f"/api/v1/tasks/{subs[2]['id']}", json={"status": "done"}, headers=alice.headers
    )
    prog = (await client.get(f"/api/v1/tasks/{epic['id']}/progress", headers=alice.headers)).json()
    assert (prog["total"], prog["done"], prog["estimate_total"], prog["estimate_done"]) == (
        3,
        1,
        8.0,
        5.0,
    )
    board = await client.get(
        f"/api/v1/projects/{pid}/board", params={"label": "ui"}, headers=alice.headers
    )
    assert [t["id"] for c in board.json()["columns"] for t in c["tasks"]] == [epic["id"]]

    url = f"/api/v1/tasks/{subs[2]['id']}/activity"
    await client.patch(
        f"/api/v1/tasks/{subs[2]['id']}", json={"title": "Renamed"}, headers=alice.headers
    )
    page = (await client.get(url, params={"limit": 2}, headers=alice.headers)).json()
    assert [i["event"] for i in page["items"]] == ["task.created", "task.updated"]
    assert {"field": "status", "from": "backlog", "to": "done"} in page["items"][1]["changes"]
    assert page["items"][1]["actor_id"] == alice.id
    rest = (
        await client.get(url, params={"cursor": page["next_cursor"]}, headers=alice.headers)
    ).json()
    assert rest["items"][0]["changes"] == [{"field": "title", "from": "A task", "to": "Renamed"}]
    assert rest["next_cursor"] is None
    assert (await client.get(url, headers=mallory.headers)).status_code == 404
    for path in ("workflow", "board", "labels", "sprints"):
        r = await client.get(f"/api/v1/projects/{pid}/{path}", headers=mallory.headers)
        assert r.status_code == 404, path


async def test_task_list_filters_by_label_sprint_and_parent(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    pid = project["id"]
    await client.put(
        f"/api/v1/projects/{pid}/labels", json={"labels": [{"name": "bug"}]}, headers=alice.headers
    )
    sprint = (
        await client.post(
            f"/api/v1/projects/{pid}/sprints", json={"name": "S"}, headers=alice.headers
        )
    ).json()
    epic = await create_task(client, alice, pid, labels=["bug"])
    sub = await create_task(client, alice, pid, parent_id=epic["id"], sprint_id=sprint["id"])
    for scope in ({"project_id": pid}, {}):
        for params, expected in (
            ({"label": "bug"}, [epic["id"]]),
            ({"sprint_id": sprint["id"]}, [sub["id"]]),
            ({"parent_id": epic["id"]}, [sub["id"]]),
        ):
            r = await client.get("/api/v1/tasks", params={**params, **scope}, headers=alice.headers)
            assert r.status_code == 200, r.text
            assert [t["id"] for t in r.json()["items"]] == expected, (params, scope)
