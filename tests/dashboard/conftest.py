"""Browser fixtures: a real `chatbot serve` process and headless Chromium driven by Playwright.

This folder is a package, so this conftest does not shadow the suite's own `conftest` module.
Chromium is Debian's (/usr/bin/chromium); Playwright's own browser downloads are never used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, expect

from conftest import TEST_SECRET_KEY
from support import ServerProcess, browser_context, launch_chromium, screenshots_folder

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
    async with launch_chromium() as chromium:
        yield chromium


@pytest.fixture
async def operator_context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """The operator's browser profile (its own cookies and storage)."""
    async with browser_context(browser) as context:
        yield context


@pytest.fixture
async def visitor_context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A website visitor's browser profile, separate from the operator's."""
    async with browser_context(browser) as context:
        yield context


@pytest.fixture
def screenshots() -> Path:
    """Where screenshots are kept as CI artifacts (git-ignored)."""
    return screenshots_folder()
