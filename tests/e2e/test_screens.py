"""Every screen of a project opens without a script error and shows its data:
list (filter, bulk edit), backlog, reports, settings, the search palette and the
shortcut help."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.e2e.conftest import DESKTOP, Shots
from tests.e2e.ui import create_project, new_context, session_of, sign_up

pytestmark = pytest.mark.timeout(180)


async def test_list_backlog_reports_settings_palette(
    browser: Browser, base_url: str, client: httpx.AsyncClient, shots: Shots
) -> None:
    ctx = await new_context(browser, base_url, DESKTOP)
    errors: list[str] = []
    try:
        page = await ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        await sign_up(page, "Dana", "Screens Ltd")
        project_id = await create_project(page, "Mobile app", "Scrum")
        headers = {"Authorization": f"Bearer {(await session_of(page))['access_token']}"}
        for title, priority in (
            ("Offline mode", "high"),
            ("Dark theme", "low"),
            ("Push alerts", "high"),
        ):
            r = await client.post(
                "/api/v1/tasks",
                json={"project_id": project_id, "title": title, "priority": priority},
                headers=headers,
            )
            assert r.status_code == 201, r.text

        await page.get_by_role("tab", name="List").click()
        rows = page.locator(".task-table tbody tr")
        await expect(rows).to_have_count(3)
        await page.get_by_label("Filter").fill("priority:high")
        await page.get_by_label("Filter").press("Enter")
        await expect(rows).to_have_count(2)
        await page.get_by_label("Select all").check()
        await page.get_by_label("Set status").select_option("in_progress")
        await expect(page.get_by_test_id("toast-success")).to_contain_text("2 tasks updated")
        await shots(page, "list")

        await page.get_by_role("tab", name="Backlog").click()
        await page.get_by_label("New sprint name").fill("Sprint 1")
        await page.get_by_role("button", name="Create sprint").click()
        await expect(page.get_by_role("heading", name="Sprint 1")).to_be_visible()
        await shots(page, "backlog")

        await page.get_by_role("tab", name="Reports").click()
        await expect(page.get_by_role("heading", name="Work by status")).to_be_visible()
        await expect(page.locator(".recharts-surface").first).to_be_visible()
        await shots(page, "reports")

        await page.get_by_role("tab", name="Settings").click()
        await expect(page.get_by_role("heading", name="Workflow")).to_be_visible()
        await expect(page.get_by_label("To Do to Done")).to_be_checked()
        await shots(page, "settings")

        await page.keyboard.press("Control+k")
        palette = page.get_by_role("dialog", name="Search")
        await palette.get_by_label("Search tasks and projects").fill("dark")
        await expect(palette.get_by_role("option").filter(has_text="Dark theme")).to_be_visible()
        await shots(page, "palette")
        await page.keyboard.press("Enter")
        await expect(page.get_by_test_id("task-detail")).to_be_visible()
        await page.keyboard.press("Escape")
        await page.keyboard.press("?")
        await expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
        await shots(page, "shortcuts")
        assert errors == []
    finally:
        await ctx.close()
