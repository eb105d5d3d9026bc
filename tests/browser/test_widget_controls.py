"""Driving the widget: from the keyboard alone, from the page through `window.Chatbot`, and the
conversation's status (asking for a person, an operator taking over) as the visitor sees it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from .browser_support import ChatServer, OwnerApi
from .widget_page import Widget

pytestmark = pytest.mark.browser

GREETING = "Hello! I repeat what you say."


async def _echo_bot(owner: OwnerApi) -> str:
    chatbot = await owner.create_chatbot(greeting=GREETING, brain={"type": "echo"})
    return str(chatbot["slug"])


async def test_the_widget_is_usable_with_the_keyboard_alone(
    chat_server: ChatServer, owner: OwnerApi, page: Page
) -> None:
    slug = await _echo_bot(owner)
    widget = Widget(page)
    await page.goto(f"{chat_server.base_url}/demo/{slug}/")
    await widget.wait_connection("open")

    for _ in range(30):  # the launcher comes last in the page's tab order
        await page.keyboard.press("Tab")
        if await widget.focused() == "launcher":
            break
    assert await widget.focused() == "launcher"
    await page.keyboard.press("Enter")
    assert await widget.part("panel").is_visible()
    assert await widget.focused() == "input"
    await page.keyboard.type("first line")
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("second line")
    assert await widget.part("input").input_value() == "first line\nsecond line"
    await page.keyboard.press("Enter")
    await widget.wait_for_text("bot", "first line\nsecond line")
    assert await widget.part("input").input_value() == ""
    assert await widget.focused() == "input"
    await page.keyboard.press("Tab")
    assert await widget.focused() == "send"
    await page.keyboard.press("Escape")

    assert await widget.part("panel").is_hidden()
    assert await widget.focused() == "launcher"
    assert await widget.part("launcher").get_attribute("aria-expanded") == "false"
    assert await widget.shown() == [
        (1, "bot", GREETING),
        (2, "visitor", "first line\nsecond line"),
        (3, "bot", "first line\nsecond line"),
    ]


# Subscribes as a site's own script would, as soon as the async widget script has run.
_SUBSCRIBE_JS = """
window.__events = [];
window.addEventListener('chatbot:ready', () => {
  const chatbot = window.Chatbot;
  chatbot.on('ready', () => window.__events.push(['ready']));
  chatbot.on('open', () => window.__events.push(['open']));
  chatbot.on('close', () => window.__events.push(['close']));
  chatbot.on('message', (m) => window.__events.push(['message', m]));
  const off = chatbot.on('message', () => window.__events.push(['unsubscribed handler ran']));
  off();
});
"""


async def test_the_page_drives_the_widget_through_window_chatbot(
    chat_server: ChatServer, owner: OwnerApi, page: Page
) -> None:
    slug = await _echo_bot(owner)
    widget = Widget(page)
    await page.add_init_script(_SUBSCRIBE_JS)
    await page.goto(f"{chat_server.base_url}/demo/{slug}/")
    await widget.wait_for_count(1)

    await page.evaluate("window.Chatbot.open()")
    assert await widget.part("panel").is_visible()
    assert await page.get_attribute("#chatbot-widget", "data-open") == ""
    await page.evaluate("window.Chatbot.close()")
    assert await widget.part("panel").is_hidden()
    await page.evaluate("window.Chatbot.toggle()")
    assert await widget.part("panel").is_visible()
    await widget.send("Hi there")
    await widget.wait_for_text("bot", "Hi there")
    await page.evaluate("window.Chatbot.toggle()")
    assert await widget.part("panel").is_hidden()

    events: list[list[Any]] = await page.evaluate("window.__events")
    kinds = [event[0] for event in events]
    assert kinds == ["ready", "message", "open", "close", "open", "message", "message", "close"]
    messages = [event[1] for event in events if event[0] == "message"]
    assert [(m["seq"], m["role"], m["text"]) for m in messages] == await widget.shown()
    conversation_id = await widget.storage(slug, "conversation_id")
    for message in messages:
        assert set(message) == {
            "id",
            "seq",
            "conversation_id",
            "role",
            "text",
            "client_id",
            "created_at",
        }
        assert message["conversation_id"] == conversation_id
    assert messages[1]["client_id"]
    assert await page.evaluate("typeof window.Chatbot.version") == "string"


async def test_identify_stores_the_visitor_data_on_the_conversation(
    chat_server: ChatServer, owner: OwnerApi, page: Page
) -> None:
    slug = await _echo_bot(owner)
    widget = Widget(page)
    await page.goto(f"{chat_server.base_url}/demo/{slug}/")
    await widget.wait_for_count(1)
    conversation_id = await widget.storage(slug, "conversation_id")
    assert conversation_id is not None

    await page.evaluate("window.Chatbot.identify({email: 'ada@example.com', plan: 'pro'})")
    await page.evaluate("window.Chatbot.identify({plan: 'team'})")
    # A conversation is stored at the visitor's first message, with what identify said before.
    await widget.open()
    await widget.send("hello")
    await widget.wait_for_text("bot", "hello")
    expected = {"email": "ada@example.com", "plan": "team"}
    for _ in range(100):  # stored a moment after the frame: at most 10 s
        if await owner.visitor_data(conversation_id) == expected:
            break
        await page.wait_for_timeout(100)

    assert await owner.visitor_data(conversation_id) == expected
    assert await widget.part("notice").text_content() == ""


async def test_asking_for_a_person_shows_the_status_and_keeps_it_across_a_reload(
    chat_server: ChatServer, owner: OwnerApi, page: Page, screenshots: Path
) -> None:
    slug = await _echo_bot(owner)
    widget = Widget(page)
    host = page.locator("#chatbot-widget")
    await page.goto(f"{chat_server.base_url}/demo/{slug}/")
    await widget.open()
    await widget.wait_for_count(1)

    await widget.part("handoff").click()
    await page.wait_for_selector(
        "#chatbot-widget[data-conversation-status=waiting_for_human]", state="attached"
    )
    assert await widget.part("notice").text_content() == "Waiting for a person\u2026"
    assert await widget.part("handoff").is_hidden()
    await page.reload()
    await widget.wait_connection("open")
    assert await host.get_attribute("data-conversation-status") == "waiting_for_human"
    conversation_id = await widget.storage(slug, "conversation_id")
    assert conversation_id is not None
    await owner.operator_takes_over(conversation_id)
    await page.wait_for_selector(
        "#chatbot-widget[data-conversation-status=human]", state="attached"
    )
    await widget.open()
    await widget.send("Are you a person?")
    await widget.wait_for_count(2)
    await owner.operator_says(conversation_id, "Yes, I am Sam from support.")
    await widget.wait_for_text("operator", "Yes, I am Sam from support.")
    await page.screenshot(path=str(screenshots / "widget-operator-desktop.png"))

    assert await widget.part("notice").text_content() == "You are now chatting with a person"
    assert await widget.shown() == [
        (1, "bot", GREETING),
        (2, "visitor", "Are you a person?"),
        (3, "operator", "Yes, I am Sam from support."),
    ]
