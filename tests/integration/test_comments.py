"""Comments end to end: through the grain into the event stream, markdown rendered
safely, limits, edit history, reactions, mentions notified once, tenant isolation."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.integration.conftest import User, create_task, member_of
from tests.integration.notify_helpers import consumed, eventually, inbox

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def bob(client: httpx.AsyncClient, db: Any, alice: User) -> User:
    return await member_of(client, db, alice, "Bob Builder")


async def comment(client: httpx.AsyncClient, user: User, task_id: str, body: str) -> httpx.Response:
    return await client.post(
        f"/api/v1/tasks/{task_id}/comments", json={"body": body}, headers=user.headers
    )


async def test_comment_is_created_rendered_and_in_the_event_stream(
    client: httpx.AsyncClient, db: Any, alice: User, project: dict[str, Any]
) -> None:
    task = await create_task(client, alice, project["id"])
    body = "**Looks good** <script>alert(1)</script> [x](javascript:alert(1))"
    r = await comment(client, alice, task["key"], body)
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["task_id"] == task["id"] and c["author_id"] == alice.id
    assert c["body"] == body  # stored as written
    assert "<strong>Looks good</strong>" in c["body_html"]
    assert "<script>" not in c["body_html"] and "&lt;script&gt;" in c["body_html"]
    assert "href" not in c["body_html"]  # the javascript: link stays text
    assert r.headers["location"] == f"/api/v1/comments/{c['id']}"

    got = await client.get(f"/api/v1/comments/{c['id']}", headers=alice.headers)
    assert got.status_code == 200 and got.json()["body_html"] == c["body_html"]

    event = await db.fetchrow(
        "SELECT type, task_id, payload FROM events WHERE project_id = $1 ORDER BY version DESC"
        " LIMIT 1",
        uuid.UUID(project["id"]),
    )
    assert event["type"] == "comment.created" and str(event["task_id"]) == task["id"]
    activity = await client.get(f"/api/v1/tasks/{task['id']}/activity", headers=alice.headers)
    assert "comment.created" in [i["event"] for i in activity.json()["items"]]


async def test_limits(client: httpx.AsyncClient, alice: User, project: dict[str, Any]) -> None:
    task = await create_task(client, alice, project["id"])
    assert (await comment(client, alice, task["id"], "   ")).status_code == 422
    too_big = await comment(client, alice, task["id"], "x" * (64 * 1024 + 1))
    assert too_big.status_code == 413
    assert too_big.headers["content-type"] == "application/problem+json"
    assert (await comment(client, alice, task["id"], "x" * 64 * 1024)).status_code == 201
    missing = await comment(client, alice, str(uuid.uuid4()), "hello")
    assert missing.status_code == 404


async def test_pagination_oldest_first_and_newest(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    task = await create_task(client, alice, project["id"])
    for i in range(5):
        assert (await comment(client, alice, task["id"], f"c{i}")).status_code == 201
    url = f"/api/v1/tasks/{task['id']}/comments"
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(url, params=params, headers=alice.headers)).json()
        seen += [c["body"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["c0", "c1", "c2", "c3", "c4"]
    newest = await client.get(url, params={"order": "newest"}, headers=alice.headers)
    assert [c["body"] for c in newest.json()["items"]] == ["c4", "c3", "c2", "c1", "c0"]


async def test_edit_keeps_history_and_only_the_author_may_edit(
    client: httpx.AsyncClient, alice: User, bob: User, project: dict[str, Any]
) -> None:
    task = await create_task(client, alice, project["id"])
    c = (await comment(client, alice, task["id"], "first")).json()
    url = f"/api/v1/comments/{c['id']}"
    r = await client.patch(url, json={"body": "second"}, headers=alice.headers)
    assert r.status_code == 200 and r.json()["body"] == "second" and r.json()["edited"]
    await client.patch(url, json={"body": "third"}, headers=alice.headers)
    assert (await client.patch(url, json={"body": "mine"}, headers=bob.headers)).status_code == 403
    assert (await client.patch(url, json={"body": ""}, headers=alice.headers)).status_code == 422
    history = (await client.get(f"{url}/history", headers=alice.headers)).json()["items"]
    assert [h["body"] for h in history] == ["first", "second", "third"]
    assert [h["revision"] for h in history] == [0, 1, 2]


async def test_delete_by_author_or_admin_only(
    client: httpx.AsyncClient, alice: User, bob: User, project: dict[str, Any]
) -> None:
    task = await create_task(client, alice, project["id"])
    by_bob = (await comment(client, bob, task["id"], "bob's")).json()
    by_alice = (await comment(client, alice, task["id"], "alice's")).json()
    # Bob is a member: not his comment, no admin.
    r = await client.delete(f"/api/v1/comments/{by_alice['id']}", headers=bob.headers)
    assert r.status_code == 403
    # Alice owns the organisation: she may delete Bob's.
    r = await client.delete(f"/api/v1/comments/{by_bob['id']}", headers=alice.headers)
    assert r.status_code == 204
    assert (
        await client.get(f"/api/v1/comments/{by_bob['id']}", headers=alice.headers)
    ).status_code == 404
    listed = (
        await client.get(f"/api/v1/tasks/{task['id']}/comments", headers=alice.headers)
    ).json()
    assert [c["id"] for c in listed["items"]] == [by_alice["id"]]


async def test_reactions_one_per_user_and_emoji(
    client: httpx.AsyncClient, db: Any, alice: User, bob: User, project: dict[str, Any]
) -> None:
    task = await create_task(client, alice, project["id"])
    c = (await comment(client, alice, task["id"], "react to me")).json()
    url = f"/api/v1/comments/{c['id']}/reactions"
    for user in (alice, alice, bob):
        r = await client.post(url, json={"emoji": "👍"}, headers=user.headers)
        assert r.status_code == 200, r.text
    r = await client.post(url, json={"emoji": "🎉"}, headers=bob.headers)
    reactions = r.json()["reactions"]
    assert reactions == [
        {"emoji": "👍", "count": 2, "me": True},
        {"emoji": "🎉", "count": 1, "me": True},
    ]
    assert (await client.post(url, json={"emoji": "lol"}, headers=bob.headers)).status_code == 422
    r = await client.delete(f"{url}/👍", headers=bob.headers)
    assert r.json()["reactions"] == [
        {"emoji": "👍", "count": 1, "me": False},
        {"emoji": "🎉", "count": 1, "me": True},
    ]
    types = await db.fetch(
        "SELECT type FROM events WHERE task_id = $1 AND type LIKE 'comment.reaction%'"
        " ORDER BY version",
        uuid.UUID(task["id"]),
    )
    # The repeated 👍 by Alice changed nothing, so it made no event.
    assert [t["type"] for t in types] == [
        "comment.reaction_added",
        "comment.reaction_added",
        "comment.reaction_added",
        "comment.reaction_removed",
    ]


async def test_mentions_resolve_and_notify_once(
    client: httpx.AsyncClient, db: Any, alice: User, bob: User, project: dict[str, Any]
) -> None:
    task = await create_task(client, alice, project["id"])
    local = bob.email.split("@")[0]
    r = await comment(client, alice, task["id"], f"@{local} please look, cc @{bob.email}")
    c = r.json()
    assert c["mentions"] == [bob.id]
    # An edit that keeps the mention does not notify again; one adding it would.
    await client.patch(
        f"/api/v1/comments/{c['id']}",
        json={"body": f"@{local} please look now"},
        headers=alice.headers,
    )
    await consumed(db, project["id"])
    got = await eventually(lambda: inbox(client, bob), lambda b: len(b["items"]) >= 1)
    mentions = [n for n in got["items"] if n["kind"] == "mentioned"]
    assert len(mentions) == 1 and mentions[0]["task_id"] == task["id"]
    assert len(got["items"]) == 1


async def test_edit_adding_a_mention_notifies(
    client: httpx.AsyncClient, db: Any, alice: User, bob: User, project: dict[str, Any]
) -> None:
    task = await create_task(client, alice, project["id"])
    c = (await comment(client, alice, task["id"], "no one yet")).json()
    await client.patch(
        f"/api/v1/comments/{c['id']}", json={"body": f"now @{bob.email}"}, headers=alice.headers
    )
    await consumed(db, project["id"])
    got = await eventually(lambda: inbox(client, bob), lambda b: len(b["items"]) >= 1)
    assert [n["kind"] for n in got["items"]] == ["mentioned"]


async def test_other_org_gets_404_everywhere(
    client: httpx.AsyncClient, alice: User, mallory: User, project: dict[str, Any]
) -> None:
    task = await create_task(client, alice, project["id"])
    c = (await comment(client, alice, task["id"], "secret")).json()
    h = mallory.headers
    assert (await client.get(f"/api/v1/tasks/{task['id']}/comments", headers=h)).status_code == 404
    assert (await comment(client, mallory, task["id"], "hi")).status_code == 404
    url = f"/api/v1/comments/{c['id']}"
    assert (await client.get(url, headers=h)).status_code == 404
    assert (await client.get(f"{url}/history", headers=h)).status_code == 404
    assert (await client.patch(url, json={"body": "x"}, headers=h)).status_code == 404
    assert (await client.delete(url, headers=h)).status_code == 404
    r = await client.post(f"{url}/reactions", json={"emoji": "👍"}, headers=h)
    assert r.status_code == 404


async def test_deleting_the_task_deletes_its_comments(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    task = await create_task(client, alice, project["id"])
    c = (await comment(client, alice, task["id"], "bye")).json()
    assert (
        await client.delete(f"/api/v1/tasks/{task['id']}", headers=alice.headers)
    ).status_code == 204
    assert (
        await client.get(f"/api/v1/comments/{c['id']}", headers=alice.headers)
    ).status_code == 404


async def test_idempotency_key_replays_the_first_comment(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    task = await create_task(client, alice, project["id"])
    url = f"/api/v1/tasks/{task['id']}/comments"
    headers = {**alice.headers, "Idempotency-Key": "c-1"}
    first = await client.post(url, json={"body": "once"}, headers=headers)
    again = await client.post(url, json={"body": "once"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    listed = (await client.get(url, headers=alice.headers)).json()["items"]
    assert len(listed) == 1
