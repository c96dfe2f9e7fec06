"""Settings and the panel in a real browser: an admin gives a member a project
role, invites someone by email who accepts through the emailed link, names a
transition and gives it a condition, defines a custom field shown on cards and
sets it in the task panel, and a comment's @mention is rendered highlighted.
And the log-in's second step for an account with two-factor authentication."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any

import asyncpg
import httpx
import pyotp
import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import DESKTOP, Shots
from tests.e2e.ui import (
    PASSWORD,
    create_project,
    create_task_with_dialog,
    new_context,
    session_of,
    sign_up,
)
from tests.integration.conftest import User, member_of, signup
from tests.integration.smtp_server import SmtpServer

pytestmark = pytest.mark.timeout(240)


async def _me(client: httpx.AsyncClient, page: Page) -> User:
    session = await session_of(page)
    headers = {"Authorization": f"Bearer {session['access_token']}"}
    me = (await client.get("/api/v1/users/me", headers=headers)).json()
    return User(
        me["id"], me["org_id"], me["email"], session["access_token"], session["refresh_token"]
    )


async def _get(client: httpx.AsyncClient, user: User, path: str) -> Any:
    r = await client.get(path, headers=user.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def _invitation_link(smtp: SmtpServer, email: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        messages = smtp.inbox.to(email)
        if messages:
            body = messages[-1].get_body(preferencelist=("plain",))
            assert body is not None
            text = body.get_content()
            found = re.search(r"(https?://\S+/invitations/accept\?token=\S+)", text)
            assert found, text
            return found.group(1)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no invitation email to {email}")


async def test_members_invitation_workflow_rules_fields_and_mentions(
    browser: Browser,
    base_url: str,
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    smtp_server: SmtpServer,
    shots: Shots,
) -> None:
    ctx = await new_context(browser, base_url, DESKTOP)
    ctx_new = await new_context(browser, base_url, DESKTOP)
    errors: list[str] = []
    try:
        page = await ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        await sign_up(page, "Erin", "Fields Co")
        project_id = await create_project(page, "Design system", "Kanban")
        erin = await _me(client, page)
        bob = await member_of(client, db, erin, "Bob")

        # -- a project role for a member --------------------------------------
        await page.goto(f"/projects/{project_id}/settings")
        await expect(page.get_by_role("heading", name="Project members")).to_be_visible()
        await page.get_by_label("Person to add").select_option(label=f"Bob ({bob.email})")
        await page.get_by_label("Role for the person").select_option("admin")
        await page.get_by_role("button", name="Add member").click()
        row = page.locator(f'[data-testid="project-member"][data-email="{bob.email}"]')
        await expect(row).to_be_visible()
        await row.get_by_label("Project role of Bob").select_option("viewer")
        # The select shows the new role once the server's list says so.
        await expect(row.get_by_label("Project role of Bob")).to_have_value("viewer")
        grants = await _get(client, erin, f"/api/v1/projects/{project_id}/members")
        assert [(u["user_id"], u["role"]) for u in grants["users"]] == [(bob.id, "viewer")]
        await shots(page, "project-member")

        # -- an invitation by email, accepted through the link -----------------
        carol_email = f"carol-{uuid.uuid4().hex[:8]}@example.com"
        await page.get_by_label("Email to invite").fill(carol_email)
        await page.get_by_label("Role for the invitation").select_option("member")
        await page.get_by_role("button", name="Invite", exact=True).click()
        pending = page.locator(f'[data-testid="invitation"][data-email="{carol_email}"]')
        await expect(pending).to_be_visible()
        await expect(page.get_by_test_id("toast-success").last).to_contain_text(carol_email)
        await shots(page, "invited")

        link = await _invitation_link(smtp_server, carol_email)
        assert link.startswith(base_url)
        carol = await ctx_new.new_page()
        carol.on("pageerror", lambda e: errors.append(str(e)))
        await carol.goto("/login")
        await expect(carol.get_by_role("heading", name="Welcome back")).to_be_visible()
        await expect(carol.get_by_test_id("sso")).to_have_count(0)  # no provider configured
        await carol.goto(link.removeprefix(base_url))
        await expect(carol.get_by_role("heading", name="Join the organisation")).to_be_visible()
        await carol.get_by_label("Your name").fill("Carol")
        await carol.get_by_label("Password").fill(PASSWORD)
        await shots(carol, "accepting")
        await carol.get_by_role("button", name="Create account and join").click()
        await carol.wait_for_url("**/projects")
        await expect(carol.get_by_text("Design system")).to_be_visible()
        await shots(carol, "joined")

        await page.reload()
        await expect(
            page.locator(f'[data-testid="org-member"][data-email="{carol_email}"]')
        ).to_be_visible()
        await expect(pending).to_have_count(0)
        members = await _get(client, erin, "/api/v1/members")
        assert {m["email"]: m["role"] for m in members["items"]}[carol_email] == "member"

        # -- a transition with a name and a condition ---------------------------
        rule = page.locator('[data-testid="transition-rule"][data-from="*"][data-to="done"]')
        await rule.get_by_label("Any status to Done name").fill("Ship it")
        await rule.get_by_label("Any status to Done: Requires an assignee").check()
        await page.get_by_role("button", name="Save workflow").click()
        await expect(page.get_by_test_id("toast-success").last).to_contain_text("Workflow saved")
        workflow = await _get(client, erin, f"/api/v1/projects/{project_id}/workflow")
        to_done = next(t for t in workflow["transitions"] if t["to"] == "done")
        assert to_done == {
            "from": "*",
            "to": "done",
            "name": "Ship it",
            "roles": [],
            "conditions": ["assignee_set"],
        }
        await shots(page, "workflow-rule")

        # -- a custom field shown on cards -------------------------------------
        new_field = page.get_by_role("form", name="New custom field")
        await new_field.get_by_label("Field name").fill("Team")
        await new_field.get_by_label("Field type").select_option("single_select")
        for option in ("Red", "Blue"):
            await new_field.get_by_label("New option").fill(option)
            await new_field.get_by_label("New option").press("Enter")
        await new_field.get_by_role("button", name="Add field").click()
        await expect(page.locator('[data-testid="field-row"][data-field="Team"]')).to_be_visible()
        fields = (await _get(client, erin, f"/api/v1/projects/{project_id}/fields"))["items"]
        assert [(f["name"], f["type"], f["show_on_card"]) for f in fields] == [
            ("Team", "single_select", True)
        ]
        blue = next(o for o in fields[0]["options"] if o["name"] == "Blue")
        await shots(page, "custom-field")

        # -- set it in the panel, see it on the card ---------------------------
        await page.get_by_role("tab", name="Board").click()
        card = await create_task_with_dialog(page, "Pick the accent colour")
        key = await card.get_attribute("data-key")
        assert key is not None
        await card.click()
        drawer = page.get_by_test_id("task-drawer")
        await expect(drawer.get_by_label("Title")).to_have_value("Pick the accent colour")
        # The named rule labels its (refused: no assignee) transition button.
        ship = drawer.get_by_role("button", name="Ship it")
        await expect(ship).to_be_disabled()
        await expect(ship).to_have_attribute("title", "the task has no assignee")
        await drawer.get_by_label("Team", exact=True).select_option(label="Blue")
        chip = card.get_by_test_id("card-field")
        await expect(chip).to_have_text("Blue")
        task = await _get(client, erin, f"/api/v1/tasks/{key}")
        assert task["custom_fields"] == {fields[0]["id"]: blue["id"]}
        await shots(page, "field-set")

        # -- a comment with a mention, highlighted -----------------------------
        handle = bob.email.split("@")[0]
        await drawer.get_by_role("textbox", name="Comment").fill(
            f"@{handle} which blue do you prefer?"
        )
        await drawer.get_by_role("button", name="Comment", exact=True).click()
        mention = drawer.get_by_test_id("comment").locator(".mention")
        await expect(mention).to_have_text("@Bob")
        await expect(mention).to_have_attribute("data-user-id", bob.id)
        await shots(page, "mention")

        await page.keyboard.press("Escape")
        await expect(drawer).to_be_hidden()
        await expect(chip).to_have_text("Blue")
        await shots(page, "card-with-field")
        assert errors == []
    finally:
        await ctx.close()
        await ctx_new.close()


async def test_log_in_asks_for_the_code_when_two_factor_is_on(
    browser: Browser, base_url: str, client: httpx.AsyncClient, shots: Shots
) -> None:
    """The password alone gets the code step (the API answers `otp_required`); a
    wrong code is refused there, a current one logs in."""
    user = await signup(client, name="Fay", org_name="Two Factor Ltd")
    r = await client.post("/api/v1/users/me/2fa/totp", headers=user.headers)
    assert r.status_code == 201, r.text
    totp = pyotp.TOTP(r.json()["secret"])
    r = await client.post(
        "/api/v1/users/me/2fa/totp/confirm", json={"code": totp.now()}, headers=user.headers
    )
    assert r.status_code == 200, r.text

    ctx = await new_context(browser, base_url, DESKTOP)
    try:
        page = await ctx.new_page()
        await page.goto("/login")
        await page.get_by_label("Email").fill(user.email)
        await page.get_by_label("Password").fill("correct horse")
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
        await shots(page, "code-step")

        code = page.get_by_label("Authentication code")
        live = {totp.at(time.time() + d) for d in (-30, 0, 30, 60)}
        wrong = next(c for c in ("000000", "111111", "222222") if c not in live)
        await code.fill(wrong)
        await page.get_by_role("button", name="Verify").click()
        await expect(page.get_by_role("alert")).to_contain_text("That code is not valid")
        await shots(page, "wrong-code")

        # The code of the next 30-second step: the confirmation spent the current one,
        # and the server accepts one step either side.
        await code.fill(totp.at(time.time() + 30))
        await page.get_by_role("button", name="Verify").click()
        await page.wait_for_url("**/projects")
        await expect(page.get_by_role("heading", name="No projects yet")).to_be_visible()
        await shots(page, "logged-in")
        session = await session_of(page)
        me = await client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {session['access_token']}"}
        )
        assert me.json()["id"] == user.id
    finally:
        await ctx.close()
