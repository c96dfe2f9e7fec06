"""Notifications end to end: recipients, live push, email digests, SMTP outages, replay.

Notifications are eventually consistent, so every check polls with a deadline.
"What did not happen" is checked once the relay's offset for the project has
passed the event (`consumed`), or once every queued email of a user is sent.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis

from tests.integration.conftest import User, create_project, create_task, member_of, signup
from tests.integration.notify_helpers import (
    all_mail_sent,
    body_text,
    consumed,
    eventually,
    inbox,
)
from tests.integration.smtp_server import SmtpServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def bob(client: httpx.AsyncClient, db: Any, alice: User) -> User:
    return await member_of(client, db, alice, "Bob Builder")


async def test_assignment_notifies_assignee_in_app_live_and_by_one_email(
    client: httpx.AsyncClient,
    db: Any,
    alice: User,
    bob: User,
    project: dict[str, Any],
    redis_url: str,
    smtp_server: SmtpServer,
) -> None:
    live = aioredis.from_url(redis_url)
    pubsub = live.pubsub()
    await pubsub.subscribe(f"user:{bob.id}")
    try:
        task = await create_task(
            client, alice, project["id"], title="Fix login", assignee_id=bob.id
        )
        got = await eventually(lambda: inbox(client, bob), lambda b: len(b["items"]) == 1)
        note = got["items"][0]
        assert note["kind"] == "assigned" and note["task_id"] == task["id"]
        assert note["title"] == f"{task['key']}: Fix login"
        assert note["summary"] == f"Test User assigned {task['key']} to you"
        assert note["read_at"] is None and got["unread_count"] == 1

        async def next_push() -> dict[str, Any] | None:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            return None if message is None else orjson.loads(message["data"])

        pushed = await eventually(next_push, lambda m: m is not None)
        assert pushed is not None and pushed["type"] == "notification"
        assert pushed["notification"]["id"] == note["id"]
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await live.aclose()

    await consumed(db, project["id"])
    assert (await inbox(client, alice))["items"] == []  # the actor is never notified

    rows = await all_mail_sent(db, bob, expected_rows=1)
    assert rows[0]["attempts"] == 1
    mails = smtp_server.inbox.to(bob.email)
    assert len(mails) == 1
    mail = mails[0]
    assert mail["Subject"] == f"[Taskhive] {task['key']}: Fix login"
    text, html = body_text(mail, "plain"), body_text(mail, "html")
    assert f"Test User assigned {task['key']} to you" in text
    assert "/api/v1/notifications/unsubscribe?token=" in text
    assert "<a href=" in html and "Fix login" in html
    assert mail["List-Unsubscribe"].startswith("<http")


async def test_mentions_by_email_and_local_part_notify_once(
    client: httpx.AsyncClient, db: Any, alice: User, bob: User, project: dict[str, Any]
) -> None:
    carol = await member_of(client, db, alice, "Carol")
    outsider = await signup(client)  # not a member of Acme: a mention must not reach them
    task = await create_task(
        client,
        alice,
        project["id"],
        description=f"@{carol.email} please look; cc @{outsider.email}",
    )
    await eventually(lambda: inbox(client, carol), lambda b: len(b["items"]) == 1)
    bob_local = bob.email.split("@")[0]
    r = await client.patch(
        f"/api/v1/tasks/{task['id']}",
        json={"description": f"@{carol.email} please look, and @{bob_local} too"},
        headers=alice.headers,
    )
    assert r.status_code == 200
    got = await eventually(lambda: inbox(client, bob), lambda b: len(b["items"]) == 1)
    assert got["items"][0]["kind"] == "mentioned"
    assert got["items"][0]["summary"] == f"Test User mentioned you in {task['key']}"
    await consumed(db, project["id"])
    carols = (await inbox(client, carol))["items"]
    assert [n["kind"] for n in carols] == ["mentioned"]  # not mentioned again by the edit
    assert (
        await db.fetchval(
            "SELECT count(*) FROM notifications WHERE user_id = $1", uuid.UUID(outsider.id)
        )
    ) == 0


async def test_watchers_hear_of_changes_made_by_others(
    client: httpx.AsyncClient, db: Any, alice: User, bob: User, project: dict[str, Any]
) -> None:
    task = await create_task(client, alice, project["id"], assignee_id=bob.id)
    r = await client.patch(
        f"/api/v1/tasks/{task['id']}", json={"status": "done"}, headers=bob.headers
    )
    assert r.status_code == 200
    got = await eventually(lambda: inbox(client, alice), lambda b: len(b["items"]) == 1)
    assert got["items"][0]["kind"] == "updated"
    assert got["items"][0]["summary"] == f"Bob Builder moved {task['key']} to done"
    await consumed(db, project["id"])
    assert [n["kind"] for n in (await inbox(client, bob))["items"]] == ["assigned"]


async def test_notifications_within_the_window_share_one_digest_email(
    client: httpx.AsyncClient,
    db: Any,
    alice: User,
    bob: User,
    project: dict[str, Any],
    smtp_server: SmtpServer,
) -> None:
    tasks = [
        await create_task(client, alice, project["id"], title=f"Digest {i}", assignee_id=bob.id)
        for i in range(3)
    ]
    rows = await all_mail_sent(db, bob, expected_rows=3)
    assert len({r["batch_id"] for r in rows}) == 1
    mails = smtp_server.inbox.to(bob.email)
    assert len(mails) == 1
    assert mails[0]["Subject"] == "[Taskhive] 3 new notifications"
    text = body_text(mails[0], "plain")
    for task in tasks:
        assert f"{task['key']}: {task['title']}" in text


async def test_smtp_down_then_up_delivers_the_email_once(
    client: httpx.AsyncClient,
    db: Any,
    alice: User,
    bob: User,
    project: dict[str, Any],
    smtp_server: SmtpServer,
) -> None:
    smtp_server.stop()
    try:
        await create_task(client, alice, project["id"], title="during outage", assignee_id=bob.id)

        async def row() -> Any:
            return await db.fetchrow(
                "SELECT attempts, last_error, sent_at FROM email_queue WHERE user_id = $1",
                uuid.UUID(bob.id),
            )

        failed = await eventually(row, lambda r: r is not None and r["attempts"] >= 2)
        assert failed["sent_at"] is None and failed["last_error"]
    finally:
        smtp_server.start()
    rows = await all_mail_sent(db, bob, expected_rows=1)
    assert rows[0]["attempts"] >= 3 and rows[0]["last_error"] is None
    assert len(smtp_server.inbox.to(bob.email)) == 1


async def test_replaying_events_creates_no_duplicates(
    client: httpx.AsyncClient,
    db: Any,
    alice: User,
    bob: User,
    project: dict[str, Any],
    smtp_server: SmtpServer,
) -> None:
    task = await create_task(client, alice, project["id"], assignee_id=bob.id)
    await client.patch(
        f"/api/v1/tasks/{task['id']}",
        json={"description": f"@{bob.email} see this"},
        headers=alice.headers,
    )
    await consumed(db, project["id"])
    await all_mail_sent(db, bob, expected_rows=2)
    count = "SELECT count(*) FROM notifications WHERE user_id = $1"
    before = await db.fetchval(count, uuid.UUID(bob.id))
    assert before == 2

    await db.execute(
        "UPDATE consumer_offsets SET version = 0 WHERE consumer = 'notifications'"
        " AND project_id = $1",
        uuid.UUID(project["id"]),
    )
    await consumed(db, project["id"])
    assert await db.fetchval(count, uuid.UUID(bob.id)) == before
    assert (
        await db.fetchval("SELECT count(*) FROM email_queue WHERE user_id = $1", uuid.UUID(bob.id))
        == 2
    )
    assert len(smtp_server.inbox.to(bob.email)) == 1


async def test_other_projects_users_do_not_see_each_other(
    client: httpx.AsyncClient, db: Any, alice: User, mallory: User
) -> None:
    evil = await create_project(client, mallory)
    await create_task(client, mallory, evil["id"], assignee_id=mallory.id)
    await consumed(db, evil["id"])
    assert (await inbox(client, alice))["items"] == []
    assert (await inbox(client, mallory))["items"] == []  # self-assigned: no notice
