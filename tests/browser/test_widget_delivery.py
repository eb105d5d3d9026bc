"""Nothing lost, nothing doubled: the widget across a server restart, a network drop, a lost
acknowledgement, and messages typed while the server is down."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, WebSocketRoute

from .browser_support import ChatServer, OwnerApi, SlowModel
from .widget_page import Widget

pytestmark = pytest.mark.browser

GREETING = "Hello! I repeat what you say."


async def _echo_page(chat_server: ChatServer, owner: OwnerApi, page: Page) -> tuple[Widget, str]:
    """The demo page of a new echo chatbot, open and connected; returns it and the slug."""
    chatbot = await owner.create_chatbot(greeting=GREETING, brain={"type": "echo"})
    widget = Widget(page)
    await page.goto(f"{chat_server.base_url}/demo/{chatbot['slug']}/")
    await widget.open()
    await widget.wait_for_count(1)
    return widget, str(chatbot["slug"])


async def _conversation_id(widget: Widget, slug: str) -> str:
    found = await widget.storage(slug, "conversation_id")
    assert found is not None
    return found


async def test_a_server_restart_is_resumed_with_no_message_lost_or_doubled(
    chat_server: ChatServer, owner: OwnerApi, page: Page
) -> None:
    widget, slug = await _echo_page(chat_server, owner, page)
    await widget.send("before the restart")
    await widget.wait_for_text("bot", "before the restart")

    chat_server.stop()
    await widget.wait_connection("offline")
    await widget.send("during the outage")
    await chat_server.start()
    await widget.wait_connection("open")  # within the widget's 10 s backoff cap
    await widget.wait_for_text("bot", "during the outage")
    await widget.send("after the restart")
    await widget.wait_for_text("bot", "after the restart")

    expected = [
        (1, "bot", GREETING),
        (2, "visitor", "before the restart"),
        (3, "bot", "before the restart"),
        (4, "visitor", "during the outage"),
        (5, "bot", "during the outage"),
        (6, "visitor", "after the restart"),
        (7, "bot", "after the restart"),
    ]
    assert await widget.shown() == expected
    assert await owner.stored(await _conversation_id(widget, slug)) == expected
    assert chat_server.starts == 2


async def test_messages_stored_while_the_network_was_down_arrive_once_on_resume(
    chat_server: ChatServer, owner: OwnerApi, page: Page, context: BrowserContext
) -> None:
    model = SlowModel(["Once ", "upon ", "a ", "time ", "there ", "was ", "a ", "shop."], 0.25)
    await model.start()
    try:
        brain = {"type": "openai", "base_url": model.base_url, "model": "fake-model"}
        chatbot = await owner.create_chatbot(greeting="", brain=brain)
        slug = str(chatbot["slug"])
        widget = Widget(page)
        await page.goto(f"{chat_server.base_url}/demo/{slug}/")
        await widget.open()
        await widget.send("Tell me a story")
        await widget.part("streaming").wait_for(state="visible")
        conversation_id = await _conversation_id(widget, slug)

        await context.set_offline(True)  # the answer goes on streaming on the server
        await widget.wait_connection("offline")
        assert await widget.part("streaming").is_hidden()
        await _wait_stored(owner, conversation_id, 2)
        await owner.operator_says(conversation_id, "An agent here, reading along.")
        await widget.send("Still there?")
        await context.set_offline(False)
        await widget.wait_for_count(5)
    finally:
        await model.close()

    expected = [
        (1, "visitor", "Tell me a story"),
        (2, "bot", model.answer),
        (3, "operator", "An agent here, reading along."),
        (4, "visitor", "Still there?"),
        (5, "bot", model.answer),
    ]
    assert await widget.shown() == expected
    assert await owner.stored(conversation_id) == expected
    assert await widget.part("streaming").is_hidden()


async def _wait_stored(owner: OwnerApi, conversation_id: str, count: int) -> None:
    deadline = time.monotonic() + 15
    while len(await owner.stored(conversation_id)) < count:
        assert time.monotonic() < deadline, "the bot's answer was never stored"
        await asyncio.sleep(0.1)


async def test_an_acknowledgement_lost_with_the_connection_does_not_double_the_message(
    chat_server: ChatServer, owner: OwnerApi, page: Page
) -> None:
    sockets = 0
    closing: list[asyncio.Future[None]] = []

    def route(ws: WebSocketRoute) -> None:
        # The first socket loses the server's echo of the visitor's message, then drops.
        nonlocal sockets
        sockets += 1
        server = ws.connect_to_server()
        if sockets > 1:
            return

        def from_server(data: str | bytes) -> None:
            frame = json.loads(data)
            if frame["type"] == "message" and frame["message"]["role"] == "visitor":
                closing.append(asyncio.ensure_future(ws.close(code=4000, reason="lost")))
                closing.append(asyncio.ensure_future(server.close()))
            else:
                ws.send(data)

        server.on_message(from_server)

    await page.route_web_socket("**/ws/chat/public/**", route)
    widget, slug = await _echo_page(chat_server, owner, page)

    await widget.send("only once, please")
    await widget.wait_for_text("bot", "only once, please")

    expected = [
        (1, "bot", GREETING),
        (2, "visitor", "only once, please"),
        (3, "bot", "only once, please"),
    ]
    assert sockets == 2
    assert await widget.shown() == expected
    assert await owner.stored(await _conversation_id(widget, slug)) == expected
    assert json.loads(await widget.storage(slug, "outbox") or "null") == []


async def test_a_message_typed_while_the_server_is_down_is_delivered_once_it_is_back(
    chat_server: ChatServer, owner: OwnerApi, page: Page, screenshots: Path
) -> None:
    widget, slug = await _echo_page(chat_server, owner, page)
    chat_server.stop()
    await widget.wait_connection("offline")

    await widget.send("Are you there?")

    [_, pending] = await widget.messages()
    assert pending == {
        "seq": None,
        "role": "visitor",
        "status": "pending",
        "text": "Are you there?",
    }
    assert await widget.part("connection-text").text_content() == "Offline. Reconnecting\u2026"
    await page.screenshot(path=str(screenshots / "widget-offline-desktop.png"))
    outbox = json.loads(await widget.storage(slug, "outbox") or "[]")
    assert [item["text"] for item in outbox] == ["Are you there?"]
    await chat_server.start()
    await widget.wait_connection("open")  # within the widget's 10 s backoff cap
    await widget.wait_for_text("bot", "Are you there?")
    stored = await owner.stored(await _conversation_id(widget, slug))
    assert [m for m in stored if m[1] == "visitor"] == [(2, "visitor", "Are you there?")]
    assert (
        await widget.shown()
        == stored
        == [
            (1, "bot", GREETING),
            (2, "visitor", "Are you there?"),
            (3, "bot", "Are you there?"),
        ]
    )
    assert await widget.part("connection-text").text_content() == ""


async def test_a_message_typed_offline_is_sent_once_when_the_visitor_comes_back_later(
    chat_server: ChatServer, owner: OwnerApi, page: Page, context: BrowserContext
) -> None:
    widget, slug = await _echo_page(chat_server, owner, page)
    demo_url = page.url
    chat_server.stop()
    await widget.wait_connection("offline")
    await widget.send("Call me back, please")
    await page.close()

    await chat_server.start()
    later = Widget(await context.new_page())
    await later.page.goto(demo_url)
    await later.open()
    await later.wait_for_text("bot", "Call me back, please")

    expected = [
        (1, "bot", GREETING),
        (2, "visitor", "Call me back, please"),
        (3, "bot", "Call me back, please"),
    ]
    assert await later.shown() == expected
    assert await owner.stored(await _conversation_id(later, slug)) == expected
