"""Browser fixtures: a real `chatbot serve` process, headless Chromium, and a second web site.

The server runs as a subprocess on SQLite in the test's folder, without Redis, so that a test
can kill it and start a new one on the same port and database: a real restart. Chromium is
Debian's (`/usr/bin/chromium`), driven by Playwright; nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page

from .browser_support import ChatServer, OwnerApi, SecondSite
from support import browser_context, launch_chromium, screenshots_folder


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
    async with launch_chromium() as launched:
        yield launched


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile (empty localStorage) with bounded waits."""
    async with browser_context(browser, locale="en-US") as created:
        yield created


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
    return screenshots_folder()
