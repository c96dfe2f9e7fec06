"""`GET /api/v1/dashboard`: the caller's tasks and the health of projects they may read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.integration.conftest import User, create_project, create_task, member_of


async def test_dashboard_sums_up_my_work_and_my_projects(
    client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    h = alice.headers
    project = await create_project(client, alice, name="Dash board")
    pid = project["id"]
    today = datetime.now(UTC).date()  # the project's zone is UTC
    sunday = today + timedelta(days=6 - today.weekday())
    me = alice.id
    overdue = await create_task(
        client,
        alice,
        pid,
        title="late",
        priority="high",
        assignee_id=me,
        due_date=(today - timedelta(days=3)).isoformat(),
    )
    due = await create_task(
        client,
        alice,
        pid,
        title="soon",
        priority="urgent",
        assignee_id=me,
        due_date=sunday.isoformat(),
    )
    later = await create_task(
        client,
        alice,
        pid,
        title="later",
        priority="low",
        assignee_id=me,
        due_date=(sunday + timedelta(days=1)).isoformat(),
    )
    finished = await create_task(
        client, alice, pid, title="finished", assignee_id=me, status="done"
    )
    await create_task(client, alice, pid, title="nobody's", status="in_progress")
    sprint = (
        await client.post(f"/api/v1/projects/{pid}/sprints", json={"name": "S"}, headers=h)
    ).json()
    r = await client.post(
        f"/api/v1/projects/{pid}/sprints/{sprint['id']}/tasks",
        json={"add": [due["id"], finished["id"]]},
        headers=h,
    )
    assert r.status_code == 200, r.text
    await client.patch(f"/api/v1/tasks/{due['id']}", json={"estimate": 3}, headers=h)
    await client.patch(f"/api/v1/tasks/{finished['id']}", json={"estimate": 1}, headers=h)
    r = await client.post(f"/api/v1/projects/{pid}/sprints/{sprint['id']}/start", headers=h)
    assert r.status_code == 200, r.text

    r = await client.get("/api/v1/dashboard", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    mine = body["my_open_tasks"]
    assert mine["total"] == 3
    assert mine["by_priority"] == {"urgent": 1, "high": 1, "medium": 0, "low": 1, "none": 0}
    assert [t["title"] for t in mine["tasks"]] == ["soon", "late", "later"]
    assert [t["id"] for t in body["overdue"]["tasks"]] == [overdue["id"]]
    assert [t["id"] for t in body["due_this_week"]["tasks"]] == [due["id"]]
    assert later["id"] not in {t["id"] for t in body["due_this_week"]["tasks"]}
    assert body["recently_updated"][0]["id"] in {due["id"], finished["id"]}
    health = next(p for p in body["projects"] if p["id"] == pid)
    assert (health["open"], health["in_progress"], health["done"]) == (3, 1, 1)
    [progress] = health["active_sprints"]
    assert (progress["tasks"], progress["done"], progress["estimate"]) == (2, 1, 4.0)
    assert progress["progress"] == 0.25


async def test_dashboard_shows_nothing_of_other_organisations(
    client: httpx.AsyncClient, alice: User, mallory: User, db: Any
) -> None:
    project = await create_project(client, alice)
    await create_task(client, alice, project["id"], assignee_id=alice.id)
    r = await client.get("/api/v1/dashboard", headers=mallory.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["projects"] == [] and body["recently_updated"] == []
    assert body["my_open_tasks"]["total"] == 0
    colleague = await member_of(client, db, alice, "Colleague")
    r = await client.get("/api/v1/dashboard", headers=colleague.headers)
    assert project["id"] in {p["id"] for p in r.json()["projects"]}
    assert (await client.get("/api/v1/dashboard")).status_code == 401
