"""The board as people use it, in a real browser, at desktop and phone size:
sign up, create a project and tasks, move a card and watch a second member see
it move live, mention that member and watch their bell, and have the workflow
refuse a forbidden move."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import DESKTOP, PHONE, Shots
from tests.e2e.ui import (
    card_in,
    column,
    create_project,
    create_task_with_dialog,
    keyboard_drag,
    move_over,
    new_context,
    pick_up,
    session_of,
    sign_in_as,
    sign_up,
)
from tests.integration.conftest import User, member_of

pytestmark = pytest.mark.timeout(240)

VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}


async def _me(client: httpx.AsyncClient, page: Page) -> User:
    session = await session_of(page)
    headers = {"Authorization": f"Bearer {session['access_token']}"}
    me = (await client.get("/api/v1/users/me", headers=headers)).json()
    return User(
        me["id"], me["org_id"], me["email"], session["access_token"], session["refresh_token"]
    )


async def _task(client: httpx.AsyncClient, user: User, key: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/tasks/{key}", headers=user.headers)
    assert r.status_code == 200, r.text
    task: dict[str, Any] = r.json()
    return task


@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_move_is_seen_live_and_mention_rings_the_bell(
    size: str,
    browser: Browser,
    base_url: str,
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    shots: Shots,
) -> None:
    viewport = VIEWPORTS[size]
    phone = size == "phone"
    ctx_a = await new_context(browser, base_url, viewport)
    ctx_b = await new_context(browser, base_url, viewport)
    try:
        ann = await ctx_a.new_page()
        await sign_up(ann, "Ann", "Acme")
        await shots(ann, "signed-up")
        project_id = await create_project(ann, f"Website {size}", "Kanban")
        await shots(ann, "project-created")
        first = await create_task_with_dialog(ann, "Write the launch post")
        await create_task_with_dialog(ann, "Fix the login redirect", shortcut=True)
        key = await first.get_attribute("data-key")
        assert key is not None
        await shots(ann, "tasks-created")

        # Bob joins Ann's organisation and opens the same board in his own browser.
        a = await _me(client, ann)
        bob = await member_of(client, db, a, "Bob")
        await sign_in_as(ctx_b, bob.token, bob.refresh_token)
        bobs = await ctx_b.new_page()
        await bobs.goto(f"/projects/{project_id}/board")
        await expect(bobs.get_by_test_id("live-status")).to_have_attribute("data-status", "live")
        await expect(card_in(bobs, "backlog", key)).to_be_visible()
        # Each sees the other viewing the project.
        await expect(ann.get_by_test_id("presence")).to_have_attribute("data-count", "1")
        await shots(bobs, "bob-sees-board")

        # Ann moves the card; Bob's board shows it in the new column within a second.
        target = "todo" if phone else "in_progress"
        if phone:
            await keyboard_drag(
                ann, card_in(ann, "backlog", key), ["ArrowRight"], column(ann, target)
            )
            await shots(ann, "dragging-with-keyboard")
            started = time.monotonic()
            await ann.keyboard.press("Space")
        else:
            await pick_up(ann, card_in(ann, "backlog", key))
            await move_over(ann, column(ann, target))
            await shots(ann, "dragging")
            started = time.monotonic()
            await ann.mouse.up()
        await expect(card_in(ann, target, key)).to_be_visible()
        await expect(card_in(bobs, target, key)).to_be_visible(timeout=1000)
        seen_after = time.monotonic() - started
        await shots(bobs, "bob-sees-move")
        assert seen_after < 1.0, f"the move reached the other member after {seen_after:.2f} s"
        assert (await _task(client, a, key))["status"] == target

        # Ann mentions Bob in a comment; Bob's bell lights up and lists it.
        await card_in(ann, target, key).click()
        drawer = ann.get_by_test_id("task-drawer")
        await expect(drawer.get_by_label("Title")).to_have_value("Write the launch post")
        handle = bob.email.split("@")[0]
        await drawer.get_by_role("textbox", name="Comment").fill(
            f"@{handle} could you review this today?"
        )
        await drawer.get_by_role("button", name="Comment", exact=True).click()
        await expect(drawer.get_by_test_id("comment")).to_have_count(1)
        await shots(ann, "commented")
        await expect(bobs.get_by_test_id("unread-count")).to_have_text("1", timeout=20_000)
        await shots(bobs, "bell-unread")
        await bobs.get_by_test_id("bell").click()
        notification = bobs.get_by_test_id("notification").first
        await expect(notification).to_be_visible()
        await shots(bobs, "inbox")
        await notification.click()
        await expect(bobs.get_by_test_id("task-detail")).to_have_attribute("data-key", key)
        await expect(bobs.get_by_test_id("unread-count")).to_have_count(0)
        await shots(bobs, "bob-opens-task")
    finally:
        await ctx_a.close()
        await ctx_b.close()


@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_forbidden_move_is_refused(
    size: str, browser: Browser, base_url: str, client: httpx.AsyncClient, shots: Shots
) -> None:
    """Bug tracking: a task needs an assignee to go from Triaged to In Progress.
    The column is marked as refusing while dragging, the drop is refused with
    the reason, and the task stays where it was."""
    ctx = await new_context(browser, base_url, VIEWPORTS[size])
    try:
        page = await ctx.new_page()
        await sign_up(page, "Cleo", "Bugs Inc")
        project_id = await create_project(page, f"Bugs {size}", "Bug tracking")
        owner = await _me(client, page)
        r = await client.post(
            "/api/v1/tasks",
            json={"project_id": project_id, "title": "Crash on save", "status": "triaged"},
            headers=owner.headers,
        )
        assert r.status_code == 201, r.text
        key = r.json()["key"]
        card = card_in(page, "triaged", key)
        await expect(card).to_be_visible()
        await shots(page, "board")

        if size == "phone":
            await keyboard_drag(page, card, ["ArrowRight"], column(page, "in_progress"))
        else:
            await pick_up(page, card)
            await move_over(page, column(page, "in_progress"))
        await expect(column(page, "in_progress")).to_have_attribute("data-refused", "true")
        await expect(page.get_by_test_id("drag-refusal")).to_contain_text("no assignee")
        await shots(page, "refused-while-dragging")
        if size == "phone":
            await page.keyboard.press("Space")
        else:
            await page.mouse.up()

        toast = page.get_by_test_id("toast-error")
        await expect(toast).to_contain_text("the task has no assignee")
        await expect(card_in(page, "triaged", key)).to_be_visible()
        await expect(card_in(page, "in_progress", key)).to_have_count(0)
        await shots(page, "refused")
        assert (await _task(client, owner, key))["status"] == "triaged"

        # The server refuses the same move too, with the reason and the allowed targets.
        r = await client.post(
            f"/api/v1/tasks/{key}/move", json={"status": "in_progress"}, headers=owner.headers
        )
        assert r.status_code == 409, r.text
        assert "no assignee" in r.json()["detail"]
    finally:
        await ctx.close()
