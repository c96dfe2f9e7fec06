"""End-to-end tests: the built web app in Debian's chromium, driven by Playwright,
against the session's stack (`tests/stack_fixtures.py`).

Python's Playwright drives the browser (not a Node script) because the flows
need the stack and the database in the middle: a second member is added to the
first user's organisation once the first user has signed up in the browser, and
the test then checks through the API what the browser claims. One process, one
event loop, plain pytest assertions.

The browser is Debian's (`/usr/bin/chromium`; `make test` installs it): nothing
is downloaded. Screenshots of every step go to `test-artifacts/e2e/<test>/`.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM = os.environ.get("TASKHIVE_CHROMIUM", "/usr/bin/chromium")
DIST = ROOT / "web" / "dist" / "index.html"

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM}: `make test` installs Debian's chromium")
    if not DIST.exists():
        pytest.skip("the web app is not built: run `make web` (make test does)")
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            # As root in a container: no setuid sandbox; /dev/shm may be tiny.
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield launched
        finally:
            await launched.close()


class Shots:
    """Numbered screenshots of one test's steps, in its own artifacts folder."""

    def __init__(self, name: str) -> None:
        self.folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", name)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.count = 0

    async def __call__(self, page: Page, step: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{step}.png"
        await page.screenshot(path=str(path))
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    return Shots(request.node.name)
