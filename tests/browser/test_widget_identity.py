"""A verified visitor in Chromium: the site's page passes the pair its backend computed, and the
same user sees the same conversation in two browser profiles (two devices)."""

from __future__ import annotations

import hashlib
import hmac
import html
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, WebSocket

from .browser_support import ChatServer, OwnerApi
from .widget_page import Widget
from support import LocalSite, browser_context

pytestmark = pytest.mark.browser

GREETING = "Hello! I repeat what you say."
USER = "customer-1001"


def user_hash(secret: str, user_id: str) -> str:
    """What the site's backend computes (docs/identity.md)."""
    return hmac.new(secret.encode("utf-8"), user_id.encode("utf-8"), hashlib.sha256).hexdigest()


class ShopSite(LocalSite):
    """The site's own pages (another origin), each written by the test."""

    def __init__(self) -> None:
        super().__init__()
        self.pages: dict[str, str] = {}

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/{page}", self._page)

    async def _page(self, request: web.Request) -> web.Response:
        body = self.pages.get(request.match_info["page"])
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(text=body, content_type="text/html")

    def add(self, name: str, widget_url: str, slug: str, *, attrs: str = "", head: str = "") -> str:
        """A page embedding the widget with these extra tag attributes; returns its URL."""
        self.pages[name] = (
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>My account</title>"
            f"{head}</head><body><h1>My account</h1>"
            f'<script src="{html.escape(widget_url)}" data-chatbot="{html.escape(slug)}" '
            f"{attrs} async></script></body></html>"
        )
        return self.url(f"/{name}")


@pytest.fixture
async def shop() -> AsyncIterator[ShopSite]:
    site = ShopSite()
    await site.start()
    try:
        yield site
    finally:
        await site.close()


async def _echo_bot(owner: OwnerApi, mode: str) -> dict[str, Any]:
    return await owner.create_chatbot(
        greeting=GREETING, brain={"type": "echo"}, identity_verification=mode
    )


def _tag_attrs(user_id: str, hashed: str) -> str:
    return f'data-user-id="{html.escape(user_id)}" data-user-hash="{hashed}"'


def _watch_sockets(page: Page) -> tuple[list[str], list[str]]:
    """The URLs of the page's WebSockets, and their errors (a refused upgrade is one)."""
    urls: list[str] = []
    errors: list[str] = []

    def watch(ws: WebSocket) -> None:
        urls.append(ws.url)
        ws.on("socketerror", lambda error: errors.append(str(error)))

    page.on("websocket", watch)
    return urls, errors


async def _stored_values(page: Page) -> str:
    values: list[str] = await page.evaluate(
        "() => Object.keys(localStorage).map((key) => localStorage.getItem(key))"
    )
    return json.dumps(values)


async def test_a_verified_user_sees_the_same_history_in_two_browser_contexts(
    chat_server: ChatServer, owner: OwnerApi, browser: Browser, shop: ShopSite
) -> None:
    chatbot = await _echo_bot(owner, "required")
    hashed = user_hash(chatbot["identity_secret"], USER)
    url = shop.add(
        "account", chat_server.widget_url, chatbot["slug"], attrs=_tag_attrs(USER, hashed)
    )
    expected = [
        (1, "bot", GREETING),
        (2, "visitor", "Where is my order?"),
        (3, "bot", "Where is my order?"),
    ]

    async with browser_context(browser) as phone:
        page = await phone.new_page()
        urls, errors = _watch_sockets(page)
        widget = Widget(page)
        await page.goto(url)
        await widget.open()
        await widget.send("Where is my order?")
        await widget.wait_for_text("bot", "Where is my order?")
        assert await widget.shown() == expected
        assert hashed not in await _stored_values(page)  # the hash stays in memory only
        assert errors == []
        assert all(f"user_hash={hashed}" in socket_url for socket_url in urls), urls

    async with browser_context(browser) as laptop:  # another device: nothing stored in it
        page = await laptop.new_page()
        widget = Widget(page)
        await page.goto(url)
        await widget.open()
        await widget.wait_for_count(3)
        assert await widget.shown() == expected
        await widget.send("Any news?")
        await widget.wait_for_text("bot", "Any news?")

    conversations = await owner.conversations(chatbot["id"])
    assert [(c["user_id"], c["last_seq"]) for c in conversations] == [(USER, 5)]


async def test_identify_before_the_first_connect_sends_the_pair_with_it(
    chat_server: ChatServer, owner: OwnerApi, page: Page, shop: ShopSite
) -> None:
    chatbot = await _echo_bot(owner, "required")
    pair = {"user_id": USER, "user_hash": user_hash(chatbot["identity_secret"], USER)}
    identify = {**pair, "name": "Ada Lovelace", "email": "ada@example.com"}
    head = (
        "<script>window.addEventListener('chatbot:ready', () => "
        f"window.Chatbot.identify({json.dumps(identify)}));</script>"
    )
    url = shop.add("ready", chat_server.widget_url, chatbot["slug"], head=head)
    urls, errors = _watch_sockets(page)
    widget = Widget(page)

    await page.goto(url)
    await widget.open()
    await widget.send("Hello")
    await widget.wait_for_text("bot", "Hello")

    assert errors == []  # never refused: the first socket already carried the pair
    assert len(urls) == 1
    [conversation] = await owner.conversations(chatbot["id"])
    assert conversation["user_id"] == USER
    assert await owner.visitor_data(conversation["id"]) == {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
    }


async def test_identify_called_later_reconnects_into_the_users_conversation(
    chat_server: ChatServer, owner: OwnerApi, browser: Browser, page: Page, shop: ShopSite
) -> None:
    chatbot = await _echo_bot(owner, "optional")
    hashed = user_hash(chatbot["identity_secret"], USER)
    signed_in = shop.add(
        "account", chat_server.widget_url, chatbot["slug"], attrs=_tag_attrs(USER, hashed)
    )
    anonymous = shop.add("home", chat_server.widget_url, chatbot["slug"])
    async with browser_context(browser) as other_device:
        first = await other_device.new_page()
        widget = Widget(first)
        await first.goto(signed_in)
        await widget.open()
        await widget.send("My earlier question")
        await widget.wait_for_text("bot", "My earlier question")

    widget = Widget(page)
    await page.goto(anonymous)
    await widget.open()
    await widget.send("Anonymous hello")
    await widget.wait_for_text("bot", "Anonymous hello")
    await page.evaluate(
        "(pair) => window.Chatbot.identify(pair)", {"user_id": USER, "user_hash": hashed}
    )
    await widget.wait_for_text("bot", "My earlier question")

    assert await widget.shown() == [
        (1, "bot", GREETING),
        (2, "visitor", "My earlier question"),
        (3, "bot", "My earlier question"),
    ]
    users = sorted(
        (c["user_id"] or "", c["last_seq"]) for c in await owner.conversations(chatbot["id"])
    )
    assert users == [("", 3), (USER, 3)]
    assert hashed not in await _stored_values(page)
