"""Outgoing webhooks against a real HTTP receiver on loopback: signed deliveries
of the chosen events, retries after failures, switching off after repeated
failure (the creator is told), replays adding nothing, and who may manage hooks."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from domain.webhooks import SIGNATURE_HEADER, verify
from tests.integration.conftest import User, create_project, create_task, member_of
from tests.integration.notify_helpers import eventually, inbox
from tests.integration.webhook_receiver import Received, WebhookReceiver


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _path() -> str:
    return f"/hook/{uuid.uuid4().hex[:8]}"


async def _hook(
    client: httpx.AsyncClient, user: User, url: str, events: list[str], **body: Any
) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/webhooks", json={"url": url, "events": events, **body}, headers=user.headers
    )
    assert r.status_code == 201, r.text
    hook: dict[str, Any] = r.json()
    return hook


async def _arrived(receiver: WebhookReceiver, path: str, count: int) -> list[Received]:
    async def got() -> list[Received]:
        return receiver.at(path)

    return await eventually(got, lambda found: len(found) >= count)


async def _deliveries(client: httpx.AsyncClient, user: User, hook_id: str) -> list[Any]:
    r = await client.get(f"/api/v1/webhooks/{hook_id}/deliveries", headers=user.headers)
    assert r.status_code == 200, r.text
    items: list[Any] = r.json()["items"]
    return items


async def _settled(client: httpx.AsyncClient, user: User, hook_id: str, count: int) -> list[Any]:
    """The log once `count` deliveries are recorded as finished (the receiver may
    see a request before the sender has written its outcome)."""

    async def log() -> list[Any]:
        return await _deliveries(client, user, hook_id)

    return await eventually(
        log, lambda items: sum(d["status"] != "pending" for d in items) >= count
    )


async def test_chosen_events_arrive_signed_with_the_task(
    client: httpx.AsyncClient, alice: User, receiver: WebhookReceiver
) -> None:
    project = await create_project(client, alice)
    path = _path()
    hook = await _hook(
        client,
        alice,
        receiver.url(path),
        ["task.created", "task.updated"],
        project_id=project["id"],
    )
    secret = hook.pop("secret")
    assert secret.startswith("whsec_")
    shown = (await client.get(f"/api/v1/webhooks/{hook['id']}", headers=alice.headers)).json()
    assert "secret" not in shown and shown == hook

    task = await create_task(client, alice, project["id"], title="Ship it")
    await client.post(
        f"/api/v1/tasks/{task['id']}/comments", json={"body": "not hooked"}, headers=alice.headers
    )
    r = await client.patch(
        f"/api/v1/tasks/{task['id']}", json={"title": "Ship it now"}, headers=alice.headers
    )
    assert r.status_code == 200

    # Deliveries of one hook may arrive in any order (docs/webhooks.md): the
    # project's version orders them.
    arrived = await _arrived(receiver, path, 2)
    created, updated = sorted(arrived, key=lambda got: orjson.loads(got.body)["version"])
    for got in (created, updated):
        assert verify(secret, got.headers[SIGNATURE_HEADER], got.body, now=time.time())
        assert not verify("whsec_wrong", got.headers[SIGNATURE_HEADER], got.body, now=time.time())
        body = orjson.loads(got.body)
        assert got.headers["X-Taskhive-Delivery"] == body["id"]
        assert got.headers["X-Taskhive-Event"] == body["type"]
        assert body["project_id"] == project["id"] and body["task_id"] == task["id"]
        assert body["organization_id"] == alice.org_id and body["actor_id"] == alice.id
    first, second = orjson.loads(created.body), orjson.loads(updated.body)
    assert (first["type"], first["task"]["title"]) == ("task.created", "Ship it")
    assert (second["type"], second["task"]["title"]) == ("task.updated", "Ship it now")
    assert second["data"]["changes"] == {"title": "Ship it now"}
    assert second["version"] > first["version"]

    log = await _settled(client, alice, hook["id"], 2)
    # Newest first, even when one relay pass recorded both at one time: the
    # project's version orders them.
    assert [(d["event_type"], d["status"], d["last_status_code"]) for d in log] == [
        ("task.updated", "delivered", 200),
        ("task.created", "delivered", 200),
    ]
    # A page at a time, in the same order.
    url = f"/api/v1/webhooks/{hook['id']}/deliveries"
    page = (await client.get(url, params={"limit": 1}, headers=alice.headers)).json()
    rest = await client.get(
        url, params={"limit": 1, "cursor": page["next_cursor"]}, headers=alice.headers
    )
    assert [d["id"] for d in page["items"] + rest.json()["items"]] == [d["id"] for d in log]
    assert rest.json()["next_cursor"] is None
    # The comment's event was not chosen: nothing else arrived.
    assert len(receiver.at(path)) == 2


async def test_a_failed_delivery_is_retried_with_the_same_id(
    client: httpx.AsyncClient, alice: User, receiver: WebhookReceiver
) -> None:
    project = await create_project(client, alice)
    path = _path()
    receiver.fail(path, 500, 503)
    hook = await _hook(client, alice, receiver.url(path), ["*"], project_id=project["id"])
    await create_task(client, alice, project["id"])

    attempts = await _arrived(receiver, path, 3)
    assert [a.status for a in attempts] == [500, 503, 200]
    assert len({a.headers["X-Taskhive-Delivery"] for a in attempts}) == 1
    [delivery] = await _settled(client, alice, hook["id"], 1)
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == (
        "delivered",
        3,
        200,
    )
    got = (await client.get(f"/api/v1/webhooks/{hook['id']}", headers=alice.headers)).json()
    assert got["consecutive_failures"] == 0 and got["active"] is True


async def test_a_hook_that_keeps_failing_is_switched_off_and_its_creator_told(
    client: httpx.AsyncClient, alice: User, receiver: WebhookReceiver
) -> None:
    project = await create_project(client, alice)
    path = _path()
    receiver.always(path, 500)
    hook = await _hook(
        client, alice, receiver.url(path), ["task.created"], project_id=project["id"]
    )
    await create_task(client, alice, project["id"])

    async def state() -> dict[str, Any]:
        r = await client.get(f"/api/v1/webhooks/{hook['id']}", headers=alice.headers)
        body: dict[str, Any] = r.json()
        return body

    off = await eventually(state, lambda h: h["active"] is False)
    assert off["consecutive_failures"] == 4 and "HTTP 500" in off["disabled_reason"]
    notices = await eventually(
        lambda: inbox(client, alice),
        lambda body: any(n["kind"] == "webhook_disabled" for n in body["items"]),
    )
    notice = next(n for n in notices["items"] if n["kind"] == "webhook_disabled")
    assert hook["id"] == notice["payload"]["webhook_id"]
    tried = len(receiver.at(path))
    assert tried == 4
    # Switched off: no more attempts; a ping is refused until it is switched on.
    await create_task(client, alice, project["id"])
    ping = await client.post(f"/api/v1/webhooks/{hook['id']}/ping", headers=alice.headers)
    assert ping.status_code == 422

    receiver.always(path, 200)
    on = await client.patch(
        f"/api/v1/webhooks/{hook['id']}", json={"active": True}, headers=alice.headers
    )
    assert on.json()["active"] is True and on.json()["consecutive_failures"] == 0
    ping = await client.post(f"/api/v1/webhooks/{hook['id']}/ping", headers=alice.headers)
    assert ping.status_code == 202

    async def pings() -> list[Received]:
        return [a for a in receiver.at(path) if orjson.loads(a.body)["type"] == "ping"]

    [pinged] = await eventually(pings, lambda found: len(found) == 1)
    assert pinged.status == 200


async def test_replayed_events_queue_nothing_twice(
    client: httpx.AsyncClient, alice: User, receiver: WebhookReceiver, db: Any
) -> None:
    project = await create_project(client, alice)
    path = _path()
    hook = await _hook(client, alice, receiver.url(path), ["task.created"])  # organisation-wide
    await create_task(client, alice, project["id"])
    await create_task(client, alice, project["id"])
    await _arrived(receiver, path, 2)

    pid = uuid.UUID(project["id"])
    await db.execute(
        "UPDATE consumer_offsets SET version = 0 WHERE consumer = 'webhooks' AND project_id = $1",
        pid,
    )

    async def offset() -> int:
        value = await db.fetchval(
            "SELECT version FROM consumer_offsets WHERE consumer = 'webhooks' AND project_id = $1",
            pid,
        )
        return int(value)

    version = await db.fetchval("SELECT version FROM projects WHERE id = $1", pid)
    await eventually(offset, lambda v: v == version)
    assert len(await _deliveries(client, alice, hook["id"])) == 2
    assert len(receiver.at(path)) == 2


async def test_who_may_manage_hooks_and_what_is_refused(
    client: httpx.AsyncClient, alice: User, mallory: User, db: Any, receiver: WebhookReceiver
) -> None:
    bob = await member_of(client, db, alice, "Bob")
    url = receiver.url(_path())
    r = await client.post(
        "/api/v1/webhooks", json={"url": url, "events": ["*"]}, headers=bob.headers
    )
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"

    for body, field in (
        ({"url": "ftp://example.com/x", "events": ["*"]}, "url"),
        ({"url": "https://user:pw@example.com/x", "events": ["*"]}, "url"),
        ({"url": url, "events": ["task.exploded"]}, "events"),
    ):
        bad = await client.post("/api/v1/webhooks", json=body, headers=alice.headers)
        assert bad.status_code == 422, bad.text
        assert field in bad.text
    extra = await client.post(
        "/api/v1/webhooks",
        json={"url": url, "events": ["*"], "secret": "mine"},
        headers=alice.headers,
    )
    assert extra.status_code == 422

    hook = await _hook(client, alice, url, ["*"])
    for method, suffix in (
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("GET", "/deliveries"),
        ("POST", "/ping"),
        ("POST", "/rotate-secret"),
    ):
        r = await client.request(
            method,
            f"/api/v1/webhooks/{hook['id']}{suffix}",
            json={"active": False} if method == "PATCH" else None,
            headers=mallory.headers,
        )
        assert r.status_code == 404, (method, suffix, r.status_code)
    theirs = await client.get("/api/v1/webhooks", headers=mallory.headers)
    assert theirs.json()["items"] == []

    rotated = await client.post(
        f"/api/v1/webhooks/{hook['id']}/rotate-secret", headers=alice.headers
    )
    assert rotated.json()["secret"] != hook["secret"]
    gone = await client.delete(f"/api/v1/webhooks/{hook['id']}", headers=alice.headers)
    assert gone.status_code == 204
    again = await client.get(f"/api/v1/webhooks/{hook['id']}", headers=alice.headers)
    assert again.status_code == 404
