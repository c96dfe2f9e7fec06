"""What a person does in the web app, as Playwright steps the tests share."""

from __future__ import annotations

import json
import uuid
from typing import Any

from playwright.async_api import Browser, BrowserContext, Locator, Page, ViewportSize, expect

PASSWORD = "correct horse battery"


async def new_context(browser: Browser, base_url: str, viewport: ViewportSize) -> BrowserContext:
    phone = viewport["width"] < 600
    return await browser.new_context(
        base_url=base_url,
        viewport=viewport,
        device_scale_factor=2 if phone else 1,
        is_mobile=phone,
        has_touch=phone,
    )


async def sign_in_as(context: BrowserContext, access_token: str, refresh_token: str) -> None:
    """Start the context signed in, as the app keeps its session (localStorage)."""
    session = json.dumps({"access_token": access_token, "refresh_token": refresh_token})
    await context.add_init_script(
        f"window.localStorage.setItem('taskhive.session', {json.dumps(session)});"
    )


async def sign_up(page: Page, name: str, org: str) -> str:
    """Sign up through the form; returns the email used."""
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    await page.goto("/signup")
    await page.get_by_label("Your name").fill(name)
    await page.get_by_label("Work email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("Organisation").fill(org)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="No projects yet")).to_be_visible()
    return email


async def session_of(page: Page) -> dict[str, Any]:
    raw = await page.evaluate("window.localStorage.getItem('taskhive.session')")
    session: dict[str, Any] = json.loads(raw)
    return session


async def create_project(page: Page, name: str, template: str) -> str:
    """Create a project through the dialog; returns its id (from the board's URL)."""
    await page.get_by_role("button", name="New project").first.click()
    dialog = page.get_by_role("dialog", name="New project")
    await dialog.get_by_label("Name").fill(name)
    await dialog.get_by_text(template, exact=True).click()
    await dialog.get_by_role("button", name="Create project").click()
    await page.wait_for_url("**/projects/*/board")
    await expect(page.get_by_test_id("live-status")).to_have_attribute("data-status", "live")
    return page.url.split("/projects/")[1].split("/")[0]


async def create_task_with_dialog(page: Page, title: str, *, shortcut: bool = False) -> Locator:
    if shortcut:
        await page.locator("body").click(position={"x": 5, "y": 200})
        await page.keyboard.press("c")
    else:
        await page.get_by_role("button", name="New task").click()
    dialog = page.get_by_role("dialog", name="New task")
    await dialog.get_by_label("Title").fill(title)
    await dialog.get_by_role("button", name="Create task").click()
    await expect(dialog).to_be_hidden()
    card = page.get_by_test_id("card").filter(has_text=title)
    await expect(card).to_be_visible()
    return card


def column(page: Page, status: str) -> Locator:
    return page.locator(f'[data-testid="column"][data-status="{status}"]')


def card_in(page: Page, status: str, key: str) -> Locator:
    return column(page, status).locator(f'[data-testid="card"][data-key="{key}"]')


async def pick_up(page: Page, card: Locator) -> None:
    """Press on a card and move far enough that dnd-kit starts a drag."""
    box = await card.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    await page.mouse.move(x, y)
    await page.mouse.down()
    await page.mouse.move(x + 12, y + 12, steps=4)


async def move_over(page: Page, target: Locator) -> None:
    box = await target.bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 80, steps=12)


async def keyboard_drag(page: Page, card: Locator, presses: list[str], target: Locator) -> None:
    """Pick the card up with Space and move it with arrow keys until it is over
    `target` (the board may scroll smoothly first), leaving it held."""
    await card.focus()
    await page.keyboard.press("Space")
    for key in presses:
        await page.keyboard.press(key)
    await expect(target).to_have_attribute("data-over", "true")
