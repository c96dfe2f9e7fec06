"""The inbox API, notification preferences and the unsubscribe link."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.integration.conftest import User, create_task, member_of
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


async def test_inbox_pages_filters_counts_and_marks_read(
    client: httpx.AsyncClient,
    db: Any,
    alice: User,
    bob: User,
    mallory: User,
    project: dict[str, Any],
) -> None:
    for i in range(5):
        await create_task(client, alice, project["id"], title=f"T{i}", assignee_id=bob.id)
    await eventually(lambda: inbox(client, bob), lambda b: b["unread_count"] == 5)

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await inbox(client, bob, **params)
        assert page["unread_count"] == 5  # every page, the last one of one item too
        seen += [n["title"].split(": ")[1] for n in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["T4", "T3", "T2", "T1", "T0"]  # newest first, each once
    assert await inbox(client, mallory) == {
        "items": [],
        "next_cursor": None,
        "unread_count": 0,
        "unread_more": False,
    }

    first = (await inbox(client, bob, limit=1))["items"][0]
    r = await client.post(f"/api/v1/notifications/{first['id']}/read", headers=bob.headers)
    assert r.status_code == 200 and r.json()["read_at"] is not None
    again = await client.post(f"/api/v1/notifications/{first['id']}/read", headers=bob.headers)
    assert again.json()["read_at"] == r.json()["read_at"]
    unread = await inbox(client, bob, unread="true")
    assert unread["unread_count"] == 4 and len(unread["items"]) == 4
    assert first["id"] not in {n["id"] for n in unread["items"]}

    for stranger in (alice, mallory):
        r = await client.post(f"/api/v1/notifications/{first['id']}/read", headers=stranger.headers)
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"
    assert (
        await client.post("/api/v1/notifications/nope/read", headers=bob.headers)
    ).status_code == 404
    bad = await client.get("/api/v1/notifications?cursor=zzz", headers=bob.headers)
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert (await client.get("/api/v1/notifications")).status_code == 401

    r = await client.post("/api/v1/notifications/read-all", headers=bob.headers)
    assert r.json() == {"marked": 4, "unread_count": 0, "unread_more": False}
    assert (await inbox(client, bob, unread="true"))["items"] == []


async def test_an_inbox_nobody_reads_is_counted_up_to_a_thousand(
    client: httpx.AsyncClient, db: Any, bob: User, project: dict[str, Any]
) -> None:
    await db.execute(
        """INSERT INTO notifications (id, org_id, user_id, project_id, version, kind, title, summary)
        SELECT gen_random_uuid(), $1, $2, $3, g, 'assigned', 'Assigned: T' || g, ''
        FROM generate_series(1, $4) AS g""",
        uuid.UUID(bob.org_id),
        uuid.UUID(bob.id),
        uuid.UUID(project["id"]),
        1001,
    )
    page = await inbox(client, bob, limit=3)
    assert (page["unread_count"], page["unread_more"]) == (1000, True)
    assert len(page["items"]) == 3 and page["next_cursor"] is not None

    await db.execute(
        "UPDATE notifications SET read_at = now() WHERE user_id = $1 AND version <= 2",
        uuid.UUID(bob.id),
    )
    page = await inbox(client, bob, unread="true", limit=1)
    assert (page["unread_count"], page["unread_more"]) == (999, False)

    r = await client.post("/api/v1/notifications/read-all", headers=bob.headers)
    assert r.json() == {"marked": 999, "unread_count": 0, "unread_more": False}


async def test_preferences_email_off_and_off(
    client: httpx.AsyncClient,
    db: Any,
    alice: User,
    bob: User,
    project: dict[str, Any],
    smtp_server: SmtpServer,
) -> None:
    url = "/api/v1/users/me/notification-settings"
    defaults = (await client.get(url, headers=bob.headers)).json()
    assert defaults["email_enabled"] is True
    assert defaults["channels"]["assigned"] == "email"
    assert defaults["channels"]["updated"] == "in_app"

    r = await client.put(url, json={"channels": {"assigned": "in_app"}}, headers=bob.headers)
    assert r.status_code == 200 and r.json()["channels"]["assigned"] == "in_app"
    await create_task(client, alice, project["id"], title="inbox only", assignee_id=bob.id)
    await eventually(lambda: inbox(client, bob), lambda b: len(b["items"]) == 1)
    await consumed(db, project["id"])
    assert (
        await db.fetchval("SELECT count(*) FROM email_queue WHERE user_id = $1", uuid.UUID(bob.id))
        == 0
    )

    r = await client.put(url, json={"channels": {"assigned": "off"}}, headers=bob.headers)
    assert r.json()["channels"] == {**defaults["channels"], "assigned": "off"}
    await create_task(client, alice, project["id"], title="nothing", assignee_id=bob.id)
    await consumed(db, project["id"])
    assert len((await inbox(client, bob))["items"]) == 1
    assert smtp_server.inbox.to(bob.email) == []

    for bad in ({"channels": {"liked": "off"}}, {"channels": {"assigned": "sms"}}, {"x": 1}):
        r = await client.put(url, json=bad, headers=bob.headers)
        assert r.status_code == 422, bad
        assert r.headers["content-type"] == "application/problem+json"


async def test_unsubscribe_link_turns_email_off_without_login(
    client: httpx.AsyncClient,
    db: Any,
    alice: User,
    bob: User,
    project: dict[str, Any],
    smtp_server: SmtpServer,
) -> None:
    await create_task(client, alice, project["id"], assignee_id=bob.id)
    await all_mail_sent(db, bob, expected_rows=1)
    text = body_text(smtp_server.inbox.to(bob.email)[0], "plain")
    link = next(w for w in text.split() if "/unsubscribe?token=" in w)
    r = await client.get(link.replace(str(client.base_url).rstrip("/"), ""))
    assert r.status_code == 200 and "no more email" in r.text
    settings = await client.get("/api/v1/users/me/notification-settings", headers=bob.headers)
    assert settings.json()["email_enabled"] is False

    await create_task(client, alice, project["id"], title="after", assignee_id=bob.id)
    await eventually(lambda: inbox(client, bob), lambda b: len(b["items"]) == 2)
    await consumed(db, project["id"])
    assert (
        await db.fetchval("SELECT count(*) FROM email_queue WHERE user_id = $1", uuid.UUID(bob.id))
        == 1
    )
    forged = await client.get("/api/v1/notifications/unsubscribe", params={"token": "a.b"})
    assert forged.status_code == 422


async def test_notifications_of_a_project_one_lost_access_to_are_hidden(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    from tests.integration.conftest import create_project

    kept, closed = await create_project(client, alice), await create_project(client, alice)
    await create_task(client, alice, kept["id"], title="Stays", assignee_id=bob.id)
    await create_task(client, alice, closed["id"], title="Goes", assignee_id=bob.id)
    await eventually(lambda: inbox(client, bob), lambda b: b["unread_count"] == 2)
    # Bob saw the project as an org member; private, it is no longer his to read.
    r = await client.patch(
        f"/api/v1/projects/{closed['id']}", json={"visibility": "private"}, headers=alice.headers
    )
    assert r.status_code == 200, r.text
    body = await eventually(lambda: inbox(client, bob), lambda b: b["unread_count"] == 1)
    assert [n["project_id"] for n in body["items"]] == [kept["id"]]
    # Given access again, the notification is back.
    r = await client.patch(
        f"/api/v1/projects/{closed['id']}", json={"visibility": "org"}, headers=alice.headers
    )
    assert r.status_code == 200, r.text
    await eventually(lambda: inbox(client, bob), lambda b: b["unread_count"] == 2)
