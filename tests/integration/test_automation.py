"""Automation rules against the stack: actions applied through the grain after
the fact, conditions in the filter language, chains stopped at depth 3,
failing rules switched off, webhooks called, and who may manage rules."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from tests.integration.conftest import User, create_project, create_task, member_of
from tests.integration.notify_helpers import eventually, inbox
from tests.integration.webhook_receiver import WebhookReceiver


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _rule(client: httpx.AsyncClient, user: User, pid: str, **body: Any) -> dict[str, Any]:
    r = await client.post(f"/api/v1/projects/{pid}/rules", json=body, headers=user.headers)
    assert r.status_code == 201, r.text
    rule: dict[str, Any] = r.json()
    return rule


async def _runs(client: httpx.AsyncClient, user: User, pid: str, rule_id: str) -> list[Any]:
    r = await client.get(f"/api/v1/projects/{pid}/rules/{rule_id}/runs", headers=user.headers)
    assert r.status_code == 200, r.text
    items: list[Any] = r.json()["items"]
    return items


async def _finished_runs(
    client: httpx.AsyncClient, user: User, pid: str, rule_id: str, count: int
) -> list[Any]:
    async def runs() -> list[Any]:
        return [x for x in await _runs(client, user, pid, rule_id) if x["status"] != "pending"]

    return await eventually(runs, lambda found: len(found) >= count, timeout=30)


async def _task(client: httpx.AsyncClient, user: User, task_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/tasks/{task_id}", headers=user.headers)
    body: dict[str, Any] = r.json()
    return body


async def test_a_rule_acts_on_matching_tasks_only(
    client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    bob = await member_of(client, db, alice, "Bob")
    project = await create_project(client, alice)
    pid = project["id"]
    r = await client.put(
        f"/api/v1/projects/{pid}/labels",
        json={"labels": [{"name": "triage", "color": "#d73a4a"}]},
        headers=alice.headers,
    )
    assert r.status_code == 200, r.text
    rule = await _rule(
        client,
        alice,
        pid,
        name="Urgent bugs go to Bob",
        trigger={"type": "task_created"},
        condition="priority:>=high",
        actions=[
            {"type": "assign", "user_id": bob.id},
            {"type": "add_label", "label": "triage"},
            {"type": "add_comment", "body": "Assigned to Bob by the triage rule."},
            {"type": "notify", "user_ids": [bob.id]},
        ],
    )
    hot = await create_task(client, alice, pid, title="Site down", priority="urgent")
    cold = await create_task(client, alice, pid, title="Typo", priority="low")

    runs = await _finished_runs(client, alice, pid, rule["id"], 2)
    outcome = {run["task_id"]: (run["status"], run["depth"]) for run in runs}
    assert outcome == {hot["id"]: ("succeeded", 1), cold["id"]: ("skipped", 1)}
    after = await _task(client, alice, hot["id"])
    assert after["assignee_id"] == bob.id and after["labels"] == ["triage"]
    assert (await _task(client, alice, cold["id"]))["assignee_id"] is None
    comments = (
        await client.get(f"/api/v1/tasks/{hot['id']}/comments", headers=alice.headers)
    ).json()["items"]
    assert [c["author_id"] for c in comments] == [alice.id]
    notices = await eventually(
        lambda: inbox(client, bob),
        lambda body: any(n["kind"] == "automation" for n in body["items"]),
    )
    ours = [n for n in notices["items"] if n["kind"] == "automation"]
    assert len(ours) == 1 and ours[0]["payload"]["rule_name"] == "Urgent bugs go to Bob"


async def test_a_chain_of_rules_stops_three_deep(client: httpx.AsyncClient, alice: User) -> None:
    project = await create_project(client, alice)
    pid = project["id"]
    down = await _rule(
        client,
        alice,
        pid,
        name="Down",
        trigger={"type": "field_changed", "field": "priority"},
        condition="priority:high",
        actions=[{"type": "set_field", "field": "priority", "value": "low"}],
    )
    up = await _rule(
        client,
        alice,
        pid,
        name="Up",
        trigger={"type": "field_changed", "field": "priority"},
        condition="priority:low",
        actions=[{"type": "set_field", "field": "priority", "value": "high"}],
    )
    task = await create_task(client, alice, pid)
    r = await client.patch(
        f"/api/v1/tasks/{task['id']}", json={"priority": "high"}, headers=alice.headers
    )
    assert r.status_code == 200

    # Person → Down (1) → Up (2) → Down (3) → Up would be 4: stopped.
    ups = await _finished_runs(client, alice, pid, up["id"], 3)
    downs = await _finished_runs(client, alice, pid, down["id"], 4)
    by_depth = {(run["depth"], run["status"]) for run in ups + downs if run["status"] != "skipped"}
    assert by_depth == {(1, "succeeded"), (2, "succeeded"), (3, "succeeded"), (4, "loop_stopped")}
    final = await _task(client, alice, task["id"])
    assert final["priority"] == "low"
    assert final["version"] == task["version"] + 4  # the person's change and three rules'


async def test_a_rule_failing_ten_times_is_switched_off(
    client: httpx.AsyncClient, alice: User
) -> None:
    project = await create_project(client, alice)
    pid = project["id"]
    rule = await _rule(
        client,
        alice,
        pid,
        name="Broken",
        trigger={"type": "task_created"},
        actions=[{"type": "transition", "to": "no_such_status"}],
    )
    for n in range(10):
        await create_task(client, alice, pid, title=f"Task {n}")
    runs = await _finished_runs(client, alice, pid, rule["id"], 10)
    assert {run["status"] for run in runs} == {"failed"}
    assert "status" in runs[0]["detail"]

    async def state() -> dict[str, Any]:
        r = await client.get(f"/api/v1/projects/{pid}/rules/{rule['id']}", headers=alice.headers)
        body: dict[str, Any] = r.json()
        return body

    off = await eventually(state, lambda body: body["enabled"] is False)
    assert off["consecutive_failures"] == 10 and "must be one of" in off["disabled_reason"]
    notices = await eventually(
        lambda: inbox(client, alice),
        lambda body: any(n["kind"] == "automation_disabled" for n in body["items"]),
    )
    assert any("Broken" in n["title"] for n in notices["items"])
    await create_task(client, alice, pid, title="After")
    assert len(await _runs(client, alice, pid, rule["id"])) == 10  # off: no more runs

    on = await client.patch(
        f"/api/v1/projects/{pid}/rules/{rule['id']}",
        json={"enabled": True, "actions": [{"type": "transition", "to": "done"}]},
        headers=alice.headers,
    )
    assert on.json()["enabled"] and on.json()["consecutive_failures"] == 0


async def test_a_rule_calls_a_webhook(
    client: httpx.AsyncClient, alice: User, receiver: WebhookReceiver
) -> None:
    project = await create_project(client, alice)
    pid = project["id"]
    hook = await client.post(
        "/api/v1/webhooks",
        json={"url": receiver.url("/automation"), "events": ["ping"], "project_id": pid},
        headers=alice.headers,
    )
    assert hook.status_code == 201, hook.text
    await _rule(
        client,
        alice,
        pid,
        name="Tell CI",
        trigger={"type": "comment_added"},
        actions=[{"type": "call_webhook", "webhook_id": hook.json()["id"]}],
    )
    task = await create_task(client, alice, pid, title="Deploy")
    r = await client.post(
        f"/api/v1/tasks/{task['id']}/comments", json={"body": "ship it"}, headers=alice.headers
    )
    assert r.status_code == 201

    async def calls() -> list[Any]:
        return receiver.at("/automation")

    [call] = await eventually(calls, lambda found: len(found) == 1)
    body = orjson.loads(call.body)
    assert body["type"] == "automation.rule" and body["rule"]["name"] == "Tell CI"
    assert body["task"]["title"] == "Deploy"


async def test_rules_are_checked_and_guarded(
    client: httpx.AsyncClient, alice: User, mallory: User, db: Any
) -> None:
    project = await create_project(client, alice)
    pid = project["id"]
    good = {
        "name": "R",
        "trigger": {"type": "task_created"},
        "actions": [{"type": "add_comment", "body": "hi"}],
    }
    bad_condition = await client.post(
        f"/api/v1/projects/{pid}/rules",
        json={**good, "condition": "priority:high AND ("},
        headers=alice.headers,
    )
    assert bad_condition.status_code == 400
    assert bad_condition.json()["position"] > 0
    for body in (
        {**good, "trigger": {"type": "sometimes"}},
        {**good, "actions": [{"type": "explode"}]},
        {**good, "actions": [{"type": "notify", "user_ids": [mallory.id]}]},
    ):
        r = await client.post(f"/api/v1/projects/{pid}/rules", json=body, headers=alice.headers)
        assert r.status_code == 422, r.text
    bob = await member_of(client, db, alice, "Bob")
    r = await client.post(f"/api/v1/projects/{pid}/rules", json=good, headers=bob.headers)
    assert r.status_code == 403
    rule = await _rule(client, alice, pid, **good)
    for method, suffix in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("GET", "/runs")):
        r = await client.request(
            method,
            f"/api/v1/projects/{pid}/rules/{rule['id']}{suffix}",
            json={"name": "x"} if method == "PATCH" else None,
            headers=mallory.headers,
        )
        assert r.status_code == 404, (method, suffix)
    assert (
        await client.delete(f"/api/v1/projects/{pid}/rules/{rule['id']}", headers=alice.headers)
    ).status_code == 204


async def _fire_now(db: Any, rule_id: str) -> None:
    """Bring a timed rule's next firing to now (instead of waiting an hour)."""
    await db.execute(
        "UPDATE automation_rules SET next_run_at = now() WHERE id = $1", uuid.UUID(rule_id)
    )


async def test_timed_rules_act_on_due_and_matching_tasks_once(
    client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    project = await create_project(client, alice, workflow_template="scrum")
    pid = project["id"]
    today = datetime.now(UTC).date()
    soon = await create_task(client, alice, pid, title="Soon", due_date=str(today + timedelta(1)))
    await create_task(client, alice, pid, title="Later", due_date=str(today + timedelta(10)))
    await create_task(
        client, alice, pid, title="Done", status="done", due_date=str(today + timedelta(1))
    )
    hot = await create_task(client, alice, pid, title="Hot", priority="high")

    reminder = await _rule(
        client,
        alice,
        pid,
        name="Due soon",
        trigger={"type": "due_soon", "days": 2},
        actions=[{"type": "add_comment", "body": "Due within two days."}],
    )
    assert reminder["next_run_at"] is not None
    weekly = await _rule(
        client,
        alice,
        pid,
        name="Weekly nudge",
        trigger={"type": "schedule", "every": "weekly", "hour": 9, "weekday": 0},
        condition="priority:high",
        actions=[{"type": "set_field", "field": "priority", "value": "urgent"}],
    )
    await _fire_now(db, reminder["id"])
    await _fire_now(db, weekly["id"])

    [due_run] = await _finished_runs(client, alice, pid, reminder["id"], 1)
    assert (due_run["task_id"], due_run["status"]) == (soon["id"], "succeeded")
    assert due_run["occasion"] == f"d{today + timedelta(1)}"
    [nudge] = await _finished_runs(client, alice, pid, weekly["id"], 1)
    assert (nudge["task_id"], nudge["status"]) == (hot["id"], "succeeded")
    assert (await _task(client, alice, hot["id"]))["priority"] == "urgent"

    # Firing again for the same due date does nothing twice; the next firing moved on.
    await _fire_now(db, reminder["id"])

    async def fired() -> Any:
        return await db.fetchval(
            "SELECT next_run_at > now() FROM automation_rules WHERE id = $1",
            uuid.UUID(reminder["id"]),
        )

    await eventually(fired, lambda moved: moved is True)
    assert len(await _runs(client, alice, pid, reminder["id"])) == 1
    comments = (
        await client.get(f"/api/v1/tasks/{soon['id']}/comments", headers=alice.headers)
    ).json()["items"]
    assert [c["body"] for c in comments] == ["Due within two days."]


async def test_a_condition_on_a_custom_field(client: httpx.AsyncClient, alice: User) -> None:
    project = await create_project(client, alice)
    pid = project["id"]
    r = await client.post(
        f"/api/v1/projects/{pid}/fields",
        json={
            "name": "Severity",
            "type": "single_select",
            "options": [{"name": "High"}, {"name": "Low"}],
        },
        headers=alice.headers,
    )
    assert r.status_code == 201, r.text
    unknown = await client.post(
        f"/api/v1/projects/{pid}/rules",
        json={
            "name": "x",
            "trigger": {"type": "task_created"},
            "condition": "cf.Severity:urgent",
            "actions": [{"type": "set_field", "field": "priority", "value": "urgent"}],
        },
        headers=alice.headers,
    )
    assert unknown.status_code == 400 and "urgent" in unknown.json()["detail"], unknown.text
    rule = await _rule(
        client,
        alice,
        pid,
        name="Severe means urgent",
        trigger={"type": "task_created"},
        condition='cf."Severity":high',
        actions=[{"type": "set_field", "field": "priority", "value": "urgent"}],
    )
    severe = await create_task(client, alice, pid, title="Down", custom_fields={"Severity": "High"})
    mild = await create_task(client, alice, pid, title="Typo", custom_fields={"Severity": "Low"})
    runs = await _finished_runs(client, alice, pid, rule["id"], 2)
    assert {run["task_id"]: run["status"] for run in runs} == {
        severe["id"]: "succeeded",
        mild["id"]: "skipped",
    }
    assert (await _task(client, alice, severe["id"]))["priority"] == "urgent"
    assert (await _task(client, alice, mild["id"]))["priority"] != "urgent"
