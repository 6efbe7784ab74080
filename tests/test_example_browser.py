"""The example's page in a real headless Chromium, against a real uvicorn server.

Needs Debian's Chromium (`apt-get install chromium chromium-driver`) and Playwright from
PyPI (`pip install playwright`); Playwright drives the system browser and downloads none.
Set `EXAMPLE_SCREENSHOT=docs/example.png` to refresh the docs' screenshot.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ._helpers import PoolOptions, search_path_dsn, serve_with_uvicorn

try:
    from playwright.async_api import Page, async_playwright, expect
except ImportError:
    pytest.skip("playwright is not installed (pip install playwright)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT = 30.0

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"no Chromium at {CHROMIUM} (apt-get install chromium chromium-driver, "
    "or set CHROMIUM_PATH)",
)


@pytest.fixture
async def server_url(pool_options: PoolOptions, tmp_path: Path) -> AsyncIterator[str]:
    """The example app under uvicorn on a free port, its store in the test's schema."""
    env = {
        **os.environ,
        "ADK_STORE_DSN": search_path_dsn(pool_options),
        "EXAMPLE_AGENT": "notes",
    }
    async with serve_with_uvicorn(
        "example_app.app:app",
        env,
        tmp_path / "uvicorn.log",
        ready_path="/list-apps",
        startup_timeout=START_TIMEOUT,
    ) as url:
        yield url


@pytest.fixture
async def page(server_url: str) -> AsyncIterator[Page]:
    """A Chromium page on the example app; fails the test on any script error."""
    errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 720})
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(server_url)
            yield page
        finally:
            await browser.close()
    assert errors == []


async def send(page: Page, text: str) -> None:
    await page.fill("#message", text)
    await page.click("#send")
    await expect(page.locator("#status")).to_have_text("done")


async def test_create_session_send_message_see_reply_and_state(page: Page) -> None:
    """Click through: new session, two messages, replies and all three state scopes shown."""
    await page.fill("#user-id", "browser-user")
    await page.locator("#user-id").dispatch_event("change")
    await page.click("#new-session")
    await expect(page.locator("#session-list button")).to_have_count(1)
    await expect(page.locator("#message")).to_be_enabled()

    await send(page, "note buy milk")
    replies = page.locator("#events li.agent .text")
    await expect(replies.last).to_have_text("Saved note #1: buy milk")
    await expect(page.locator("#state-user")).to_contain_text('"buy milk"')
    await expect(page.locator("#state-session")).to_contain_text('"turns": 1')
    await expect(page.locator("#state-app")).to_contain_text('"app:turns": 1')

    await send(page, "notes")
    await expect(replies.last).to_have_text("Your notes: 1. buy milk")
    await expect(page.locator("#state-session")).to_contain_text('"turns": 2')

    screenshot = os.environ.get("EXAMPLE_SCREENSHOT")
    if screenshot:
        await page.screenshot(path=str(ROOT / screenshot), full_page=True)


async def test_sessions_survive_a_reload(page: Page) -> None:
    """After a reload the session is listed; opening it shows the stored events and state."""
    await page.click("#new-session")
    await expect(page.locator("#message")).to_be_enabled()
    await send(page, "note keep me")
    session_id = await page.locator("#session-list button").first.get_attribute("data-session-id")
    await page.reload()
    await page.click(f'#session-list button[data-session-id="{session_id}"]')
    await expect(page.locator("#events li.user .text")).to_have_text(["note keep me"])
    await expect(page.locator("#events li.agent .text").last).to_have_text("Saved note #1: keep me")
    await expect(page.locator("#state-user")).to_contain_text('"keep me"')


async def test_recall_in_a_new_session_finds_an_older_message(page: Page) -> None:
    """The recall command, visible on the page: what was said in one session is found
    from another through the memory service."""
    await expect(page.locator("#recall-hint")).to_contain_text("recall")
    await page.click("#new-session")
    await expect(page.locator("#message")).to_be_enabled()
    await send(page, "note call the dentist")
    await page.click("#new-session")
    await expect(page.locator("#session-list button")).to_have_count(2)
    await send(page, "recall dentist")
    replies = page.locator("#events li.agent .text")
    await expect(replies.last).to_have_text("I remember you said: 'note call the dentist'")
