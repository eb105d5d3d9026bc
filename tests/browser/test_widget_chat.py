"""The widget on the demo page, in headless Chromium, against a real `chatbot serve`: it opens,
greets, answers from knowledge, streams a model's answer, and keeps the history on reload."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page

from .browser_support import ChatServer, OwnerApi, SlowModel
from .widget_page import Widget

pytestmark = pytest.mark.browser

GREETING = "Hi! Ask me about shipping or returns."
SHIPPING_Q = "How long does shipping take?"
SHIPPING_A = "Orders ship within 2 business days and arrive in 3 to 5 days."


async def _knowledge_bot(owner: OwnerApi) -> dict[str, object]:
    chatbot = await owner.create_chatbot(greeting=GREETING)
    await owner.add_knowledge(str(chatbot["id"]), SHIPPING_Q, SHIPPING_A)
    await owner.add_knowledge(
        str(chatbot["id"]), "Can I return an item?", "Yes: returns are free for 30 days."
    )
    return chatbot


async def test_the_widget_opens_greets_and_answers_from_the_knowledge_base(
    chat_server: ChatServer, owner: OwnerApi, page: Page
) -> None:
    chatbot = await _knowledge_bot(owner)
    widget = Widget(page)

    await page.goto(f"{chat_server.base_url}/demo/{chatbot['slug']}/")
    await widget.wait_connection("open")
    assert await widget.part("panel").is_hidden()
    await widget.open()
    await widget.wait_for_count(1)
    await widget.send(SHIPPING_Q)
    await widget.wait_for_text("bot", SHIPPING_A)

    assert await widget.shown() == [
        (1, "bot", GREETING),
        (2, "visitor", SHIPPING_Q),
        (3, "bot", SHIPPING_A),
    ]
    assert await widget.part("title").text_content() == "Acme Help"
    assert await widget.part("launcher").get_attribute("aria-expanded") == "true"
    assert await widget.part("streaming").is_hidden()
    conversation_id = await widget.storage(str(chatbot["slug"]), "conversation_id")
    assert conversation_id is not None
    assert await owner.stored(conversation_id) == await widget.shown()


async def test_an_openai_answer_streams_into_the_widget_in_several_steps(
    chat_server: ChatServer, owner: OwnerApi, page: Page
) -> None:
    model = SlowModel(["We ", "open ", "at ", "nine ", "every ", "morning."], delay=0.3)
    await model.start()
    try:
        brain = {"type": "openai", "base_url": model.base_url, "model": "fake-model"}
        chatbot = await owner.create_chatbot(greeting="", brain=brain)
        widget = Widget(page)
        await page.goto(f"{chat_server.base_url}/demo/{chatbot['slug']}/")
        await widget.wait_connection("open")
        await widget.open()
        await page.evaluate(_RECORD_STREAM_JS)

        await widget.send("When do you open?")
        await widget.wait_for_text("bot", model.answer)
    finally:
        await model.close()

    steps: list[dict[str, object]] = await page.evaluate("window.__steps")
    final = next(i for i, step in enumerate(steps) if step["final"])
    streamed = [str(step["text"]) for step in steps[:final] if step["text"]]
    assert len(set(streamed)) >= 3, steps
    assert all(model.answer.startswith(text) for text in streamed), steps
    assert [len(text) for text in streamed] == sorted(len(text) for text in streamed)
    assert len(model.requests) == 1
    assert await widget.part("streaming").is_hidden()
    assert await widget.shown() == [(1, "visitor", "When do you open?"), (2, "bot", model.answer)]


# Records each distinct text of the streaming bubble, and when the final bot message arrived.
_RECORD_STREAM_JS = """() => {
  const root = document.querySelector('#chatbot-widget').shadowRoot;
  const bubble = root.querySelector('[data-role=streaming]');
  window.__steps = [];
  let last = null;
  new MutationObserver(() => {
    const text = bubble.closest('[hidden]') ? '' : bubble.textContent;
    const final = !!root.querySelector('[data-role=message][data-message-role=bot]');
    const key = text + '|' + final;
    if (key !== last) window.__steps.push({ text, final });
    last = key;
  }).observe(root, { subtree: true, childList: true, characterData: true, attributes: true });
}"""


async def test_a_reload_shows_the_history_at_once_and_continues_the_conversation(
    chat_server: ChatServer, owner: OwnerApi, page: Page
) -> None:
    chatbot = await _knowledge_bot(owner)
    slug = str(chatbot["slug"])
    widget = Widget(page)
    await page.goto(f"{chat_server.base_url}/demo/{slug}/")
    await widget.open()
    await widget.send(SHIPPING_Q)
    await widget.wait_for_text("bot", SHIPPING_A)
    before = await widget.shown()
    conversation_id = await widget.storage(slug, "conversation_id")
    sockets: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))

    await page.reload()
    await widget.part("launcher").wait_for(state="visible")
    restored = await widget.shown()
    await widget.wait_connection("open")
    await widget.open()
    await widget.send("Can I return an item?")
    await widget.wait_for_text("bot", "Yes: returns are free for 30 days.")

    assert restored == before
    assert await widget.storage(slug, "conversation_id") == conversation_id
    # The visitor token resumed the conversation without being in the URL (nor access logs).
    assert sockets
    assert not [url for url in sockets if "visitor_token" in url]
    assert await widget.shown() == [
        *before,
        (4, "visitor", "Can I return an item?"),
        (5, "bot", "Yes: returns are free for 30 days."),
    ]
    assert conversation_id is not None
    assert await owner.stored(conversation_id) == await widget.shown()
    [conversation] = await owner.conversations(str(chatbot["id"]))
    assert conversation["id"] == conversation_id


@pytest.mark.parametrize(
    ("name", "viewport"),
    [("desktop", {"width": 1280, "height": 800}), ("phone", {"width": 390, "height": 844})],
)
async def test_screenshots_of_the_open_widget_are_kept(
    chat_server: ChatServer,
    owner: OwnerApi,
    page: Page,
    screenshots: Path,
    name: str,
    viewport: dict[str, int],
) -> None:
    chatbot = await _knowledge_bot(owner)
    widget = Widget(page)
    await page.set_viewport_size(viewport)  # type: ignore[arg-type]
    await page.goto(f"{chat_server.base_url}/demo/{chatbot['slug']}/")
    await widget.open()
    await widget.send(SHIPPING_Q)
    await widget.wait_for_text("bot", SHIPPING_A)
    await widget.part("input").fill("And to Canada?")
    path = screenshots / f"widget-open-{name}.png"

    await page.screenshot(path=str(path))

    box = await widget.part("panel").bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["y"] >= 0
    assert box["x"] + box["width"] <= viewport["width"]
    assert box["y"] + box["height"] <= viewport["height"]
    assert path.stat().st_size > 10_000
