"""What visitors, bots and operators write is shown as text and runs nothing; the widget works
on another site only when the chatbot allows that site's origin."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, WebSocket

from .browser_support import ChatServer, OwnerApi, SecondSite
from .widget_page import Widget

pytestmark = pytest.mark.browser

VISITOR_IMG = "<img src=x onerror=\"window.__pwned='visitor'\">"
VISITOR_SCRIPT = "<script>window.__pwned='script'</script>"
VISITOR_LINK = "[click me](javascript:window.__pwned='link')"
OPERATOR_IMG = (
    "<img src=x onerror=\"window.__pwned='operator'\"><svg onload=\"window.__pwned='svg'\">"
)
NAME = "<img src=x onerror=\"window.__pwned='name'\">"

# Everything in the shadow root that markup could have smuggled in; the widget's own icons and
# its avatar <img> (hidden, no source without a theme avatar) are not.
_INJECTED_JS = """() => {
  const root = document.querySelector('#chatbot-widget').shadowRoot;
  const avatar = root.querySelector('[data-role=avatar]');
  return {
    shadow: Array.from(root.querySelectorAll('img, script, iframe, object, embed, a, svg *'))
      .filter((el) => el !== avatar && el.tagName.toLowerCase() !== 'path')
      .map((el) => el.outerHTML),
    avatarSrc: avatar.getAttribute('src'),
    page: Array.from(document.querySelectorAll('img, iframe, object, embed'), (el) => el.outerHTML),
    pwned: window.__pwned === undefined ? null : String(window.__pwned),
  };
}"""


async def test_markup_from_visitor_bot_and_operator_shows_as_text_and_runs_nothing(
    chat_server: ChatServer, owner: OwnerApi, page: Page
) -> None:
    chatbot = await owner.create_chatbot(name=NAME, greeting="", brain={"type": "echo"})
    slug = str(chatbot["slug"])
    widget = Widget(page)
    await page.goto(f"{chat_server.base_url}/demo/{slug}/")
    await widget.open()
    for text in (VISITOR_IMG, VISITOR_SCRIPT, VISITOR_LINK):
        await widget.send(text)
        await widget.wait_for_text("bot", text)
    conversation_id = await widget.storage(slug, "conversation_id")
    assert conversation_id is not None
    await owner.operator_says(conversation_id, OPERATOR_IMG)
    await widget.wait_for_text("operator", OPERATOR_IMG)
    await page.wait_for_timeout(500)  # a broken image's onerror would have fired by now

    assert await widget.shown() == [
        (1, "visitor", VISITOR_IMG),
        (2, "bot", VISITOR_IMG),
        (3, "visitor", VISITOR_SCRIPT),
        (4, "bot", VISITOR_SCRIPT),
        (5, "visitor", VISITOR_LINK),
        (6, "bot", VISITOR_LINK),
        (7, "operator", OPERATOR_IMG),
    ]
    assert await widget.part("title").text_content() == NAME
    assert await page.evaluate(_INJECTED_JS) == {
        "shadow": [],
        "avatarSrc": None,
        "page": [],
        "pwned": None,
    }


async def test_the_widget_on_an_allowed_second_origin_connects_and_chats(
    chat_server: ChatServer, owner: OwnerApi, page: Page, second_site: SecondSite
) -> None:
    chatbot = await owner.create_chatbot(
        greeting="Welcome to the other shop!",
        brain={"type": "echo"},
        allowed_origins=["https://shop.example.com", second_site.origin],
    )
    widget = Widget(page)

    await page.goto(second_site.page_url(chat_server.widget_url, str(chatbot["slug"])))
    await widget.open()
    await widget.send("Hello from another site")
    await widget.wait_for_text("bot", "Hello from another site")

    assert await page.evaluate("location.origin") == second_site.origin
    assert await widget.shown() == [
        (1, "bot", "Welcome to the other shop!"),
        (2, "visitor", "Hello from another site"),
        (3, "bot", "Hello from another site"),
    ]


async def test_the_widget_on_a_second_origin_not_allowed_is_refused_and_never_welcomed(
    chat_server: ChatServer, owner: OwnerApi, page: Page, second_site: SecondSite
) -> None:
    chatbot = await owner.create_chatbot(
        greeting="You should never see this.",
        brain={"type": "echo"},
        allowed_origins=["https://shop.example.com"],
    )
    widget = Widget(page)
    refusals: list[str] = []
    frames: list[str] = []

    def watch(ws: WebSocket) -> None:
        ws.on("socketerror", lambda error: refusals.append(error))
        ws.on("framereceived", lambda data: frames.append(str(data)))

    page.on("websocket", watch)
    await page.goto(second_site.page_url(chat_server.widget_url, str(chatbot["slug"])))
    await widget.open()
    await widget.wait_connection("offline")
    for _ in range(150):  # at most 15 s for a second attempt: the widget keeps retrying
        if len(refusals) >= 2:
            break
        await page.wait_for_timeout(100)
    await widget.send("Is anyone there?")

    assert len(refusals) >= 2
    assert all("403" in refusal for refusal in refusals), refusals
    assert frames == []
    assert await page.get_attribute("#chatbot-widget", "data-connection") != "open"
    subtitle = await widget.part("connection-text").text_content()
    assert subtitle in ("Connecting\u2026", "Offline. Reconnecting\u2026")
    assert await widget.messages() == [
        {"seq": None, "role": "visitor", "status": "pending", "text": "Is anyone there?"}
    ]
    assert await owner.conversations(str(chatbot["id"])) == []
