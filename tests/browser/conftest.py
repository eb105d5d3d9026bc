"""Browser fixtures: a real `chatbot serve` process, headless Chromium, and a second web site.

The server runs as a subprocess on SQLite in the test's folder, without Redis, so that a test
can kill it and start a new one on the same port and database: a real restart. Chromium is
Debian's (`/usr/bin/chromium`), driven by Playwright; nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from .browser_support import ChatServer, OwnerApi, SecondSite

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
async def chat_server(tmp_path: Path) -> AsyncIterator[ChatServer]:
    """A running `chatbot serve` on SQLite, killed at the end of the test."""
    server = ChatServer(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def owner(chat_server: ChatServer) -> AsyncIterator[OwnerApi]:
    """A freshly registered account on the server, with helpers for its REST API."""
    async with OwnerApi(chat_server) as api:
        await api.register()
        yield api


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium, closed after the test."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is required for the browser tests and is missing at {CHROMIUM}: "
            "install it with `apt-get install chromium`.",
            pytrace=False,
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile (empty localStorage) with bounded waits."""
    created = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    created.set_default_timeout(TIMEOUT_MS)
    created.set_default_navigation_timeout(TIMEOUT_MS)
    try:
        yield created
    finally:
        await created.close()


@pytest.fixture
def page_errors() -> Iterator[list[str]]:
    """Uncaught errors of the test's pages: any at all fails the test."""
    errors: list[str] = []
    yield errors
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture
async def page(context: BrowserContext, page_errors: list[str]) -> Page:
    """A page of the fresh profile, its uncaught errors recorded."""
    created = await context.new_page()
    created.on("pageerror", lambda error: page_errors.append(str(error)))
    return created


@pytest.fixture
async def second_site() -> AsyncIterator[SecondSite]:
    """A tiny web site on another origin (another port), to embed the widget from."""
    site = SecondSite()
    await site.start()
    try:
        yield site
    finally:
        await site.close()


@pytest.fixture
def screenshots() -> Path:
    """Where screenshots go: kept by CI as artifacts, ignored by git."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
