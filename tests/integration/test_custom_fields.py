"""Custom fields through the API: definitions, values validated by the grain,
renames that leave task rows alone, deletes that take the values in one commit."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.integration.conftest import User, create_project, create_task, member_of


async def _field(
    client: httpx.AsyncClient, user: User, project_id: str, **body: Any
) -> dict[str, Any]:
    r = await client.post(f"/api/v1/projects/{project_id}/fields", json=body, headers=user.headers)
    assert r.status_code == 201, r.text
    field: dict[str, Any] = r.json()
    return field


async def _task(client: httpx.AsyncClient, user: User, task_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/tasks/{task_id}", headers=user.headers)
    assert r.status_code == 200, r.text
    task: dict[str, Any] = r.json()
    return task


async def test_values_are_validated_defaulted_and_survive_renames(
    client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    project = await create_project(client, alice)
    pid = project["id"]
    severity = await _field(
        client,
        alice,
        pid,
        name="Severity",
        type="single_select",
        options=[{"name": "Low"}, {"name": "High", "color": "#d73a4a"}],
        default="Low",
    )
    points = await _field(client, alice, pid, name="Story points", type="number")
    link = await _field(client, alice, pid, name="Spec", type="url", show_on_card=True)
    low, high = (o["id"] for o in severity["options"])
    listed = await client.get(f"/api/v1/projects/{pid}/fields", headers=alice.headers)
    assert [f["name"] for f in listed.json()["items"]] == ["Severity", "Story points", "Spec"]

    defaulted = await create_task(client, alice, pid)
    assert defaulted["custom_fields"] == {severity["id"]: low}
    task = await create_task(
        client,
        alice,
        pid,
        custom_fields={"Severity": "high", points["id"]: 5, "Spec": "https://example.com/s"},
    )
    assert task["custom_fields"] == {
        severity["id"]: high,
        points["id"]: 5,
        link["id"]: "https://example.com/s",
    }

    for values, named in (
        ({"Story points": "five"}, "custom_fields.Story points"),
        ({"Severity": "Critical"}, "custom_fields.Severity"),
        ({"Spec": "ftp://x"}, "custom_fields.Spec"),
        ({"Colour": "red"}, "custom_fields.Colour"),
    ):
        r = await client.patch(
            f"/api/v1/tasks/{task['id']}", json={"custom_fields": values}, headers=alice.headers
        )
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert named in r.text
    assert (await _task(client, alice, task["id"]))["version"] == task["version"]

    r = await client.patch(
        f"/api/v1/tasks/{task['id']}",
        json={"custom_fields": {"Story points": None, "Severity": "Low"}},
        headers=alice.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["custom_fields"] == {severity["id"]: low, link["id"]: "https://example.com/s"}

    # Renaming a field or an option writes no task row.
    rows_before = await db.fetch(
        "SELECT id, version, custom_fields FROM tasks WHERE project_id = $1 ORDER BY number",
        uuid.UUID(pid),
    )
    renamed = await client.patch(
        f"/api/v1/projects/{pid}/fields/{severity['id']}",
        json={
            "name": "Impact",
            "options": [{"id": low, "name": "Minor"}, {"id": high, "name": "Major"}],
        },
        headers=alice.headers,
    )
    assert renamed.status_code == 200, renamed.text
    assert [o["name"] for o in renamed.json()["options"]] == ["Minor", "Major"]
    rows_after = await db.fetch(
        "SELECT id, version, custom_fields FROM tasks WHERE project_id = $1 ORDER BY number",
        uuid.UUID(pid),
    )
    assert rows_after == rows_before
    r = await client.patch(
        f"/api/v1/tasks/{task['id']}",
        json={"custom_fields": {"Impact": "Major"}},
        headers=alice.headers,
    )
    assert r.json()["custom_fields"][severity["id"]] == high

    required = await client.patch(
        f"/api/v1/projects/{pid}/fields/{points['id']}",
        json={"required": True},
        headers=alice.headers,
    )
    assert required.status_code == 200
    missing = await client.post(
        "/api/v1/tasks", json={"project_id": pid, "title": "No points"}, headers=alice.headers
    )
    assert missing.status_code == 422 and "custom_fields.Story points" in missing.text


async def test_deleting_a_field_removes_its_values_in_the_same_commit(
    client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    project = await create_project(client, alice)
    pid = project["id"]
    done = await _field(client, alice, pid, name="Reviewed", type="checkbox")
    keep = await _field(client, alice, pid, name="Note", type="text")
    with_value = await create_task(
        client, alice, pid, custom_fields={"Reviewed": True, "Note": "x"}
    )
    without = await create_task(client, alice, pid, custom_fields={"Note": "y"})
    project_version = await db.fetchval(
        "SELECT version FROM projects WHERE id = $1", uuid.UUID(pid)
    )

    r = await client.delete(f"/api/v1/projects/{pid}/fields/{done['id']}", headers=alice.headers)
    assert r.status_code == 204
    after = await _task(client, alice, with_value["id"])
    assert after["custom_fields"] == {keep["id"]: "x"}
    assert after["version"] == with_value["version"] + 1
    assert (await _task(client, alice, without["id"]))["version"] == without["version"]
    # One commit: the definitions event and the task's update are consecutive versions.
    events = await db.fetch(
        "SELECT version, type FROM events WHERE project_id = $1 AND version > $2 ORDER BY version",
        uuid.UUID(pid),
        project_version,
    )
    assert [e["type"] for e in events] == ["fields.updated", "task.updated"]
    gone = await client.patch(
        f"/api/v1/tasks/{with_value['id']}",
        json={"custom_fields": {"Reviewed": True}},
        headers=alice.headers,
    )
    assert gone.status_code == 422
    again = await client.delete(
        f"/api/v1/projects/{pid}/fields/{done['id']}", headers=alice.headers
    )
    assert again.status_code == 404


async def test_who_may_manage_fields(
    client: httpx.AsyncClient, alice: User, mallory: User, db: Any
) -> None:
    project = await create_project(client, alice)
    pid = project["id"]
    bob = await member_of(client, db, alice, "Bob")
    body = {"name": "Severity", "type": "text"}
    r = await client.post(f"/api/v1/projects/{pid}/fields", json=body, headers=bob.headers)
    assert r.status_code == 403
    r = await client.post(f"/api/v1/projects/{pid}/fields", json=body, headers=mallory.headers)
    assert r.status_code == 404
    r = await client.get(f"/api/v1/projects/{pid}/fields", headers=mallory.headers)
    assert r.status_code == 404
    bad = await client.post(
        f"/api/v1/projects/{pid}/fields",
        json={"name": "X", "type": "colour"},
        headers=alice.headers,
    )
    assert bad.status_code == 422
    field = await _field(client, alice, pid, **body)
    readable = await client.get(f"/api/v1/projects/{pid}/fields", headers=bob.headers)
    assert [f["id"] for f in readable.json()["items"]] == [field["id"]]
