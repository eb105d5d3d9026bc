"""Browser fixtures: a real `chatbot serve` process and headless Chromium driven by Playwright.

This folder is a package, so this conftest does not shadow the suite's own `conftest` module.
Chromium is Debian's (/usr/bin/chromium); Playwright's own browser downloads are never used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, async_playwright, expect

from conftest import TEST_SECRET_KEY
from support import REPO_ROOT, ServerProcess

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
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"

expect.set_options(timeout=10_000)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    """`chatbot serve` on SQLite in tmp_path, with in-process backends."""
    process = ServerProcess(
        {
            "CHATBOT_DATABASE_URL": f"sqlite:///{tmp_path}/chatbot.db",
            "CHATBOT_REDIS_URL": "",
            "CHATBOT_SECRET_KEY": TEST_SECRET_KEY,
            "CHATBOT_ENV": "development",
            "CHATBOT_PUBLIC_URL": "",
            "CHATBOT_BRAINS__SEMANTIC": "false",
            "CHATBOT_ACCESS_LOG": "false",
        },
        cwd=tmp_path,
    )
    process.start(tmp_path / "server.log")
    try:
        await process.wait_ready()
        yield process
    finally:
        process.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=TIMEOUT_MS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def _context(browser: Browser) -> BrowserContext:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    return context


@pytest.fixture
async def operator_context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """The operator's browser profile (its own cookies and storage)."""
    context = await _context(browser)
    try:
        yield context
    finally:
        await context.close()


@pytest.fixture
async def visitor_context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A website visitor's browser profile, separate from the operator's."""
    context = await _context(browser)
    try:
        yield context
    finally:
        await context.close()


@pytest.fixture
def screenshots() -> Path:
    """Where screenshots are kept as CI artifacts (git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
