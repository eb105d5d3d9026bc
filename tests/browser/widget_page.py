"""The widget as a test sees it: a page object over its open shadow root."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Locator, Page

Shown = tuple[int | None, str, str]  # (seq, role, text) of one message bubble

_MESSAGES_JS = """() => {
  const root = document.querySelector('#chatbot-widget').shadowRoot;
  return Array.from(root.querySelectorAll('[data-role=message]'), (el) => ({
    seq: el.hasAttribute('data-seq') ? Number(el.getAttribute('data-seq')) : null,
    role: el.getAttribute('data-message-role'),
    status: el.getAttribute('data-status'),
    text: el.textContent,
  }));
}"""

_COUNT_SENT_JS = """(n) => {
  const host = document.querySelector('#chatbot-widget');
  const sent = '[data-role=message][data-status=sent]';
  return !!host && host.shadowRoot.querySelectorAll(sent).length >= n;
}"""

_HAS_TEXT_JS = """([role, text]) => {
  const host = document.querySelector('#chatbot-widget');
  return !!host && Array.from(host.shadowRoot.querySelectorAll(
    '[data-role=message][data-status=sent][data-message-role=' + role + ']'
  )).some((el) => el.textContent === text);
}"""

_FOCUSED_JS = """() => {
  const host = document.querySelector('#chatbot-widget');
  if (document.activeElement !== host) return null;
  const inner = host.shadowRoot.activeElement;
  return inner && (inner.getAttribute('data-role') || inner.tagName.toLowerCase());
}"""


class Widget:
    """The embedded widget on `page`: opens, sends, and reads what it shows."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def part(self, role: str) -> Locator:
        return self.page.locator(f"#chatbot-widget [data-role={role}]")

    async def wait_connection(self, state: str) -> None:
        """Wait until the host's `data-connection` is `state`."""
        await self.page.wait_for_selector(
            f"#chatbot-widget[data-connection={state}]", state="attached"
        )

    async def open(self) -> None:
        await self.part("launcher").click()
        await self.part("panel").wait_for(state="visible")

    async def send(self, text: str) -> None:
        """Type `text` into the box and press Enter."""
        await self.part("input").fill(text)
        await self.part("input").press("Enter")

    async def messages(self) -> list[dict[str, Any]]:
        """Every message bubble, in DOM order: seq (None while pending), role, status, text."""
        found: list[dict[str, Any]] = await self.page.evaluate(_MESSAGES_JS)
        return found

    async def shown(self) -> list[Shown]:
        """Every message bubble as (seq, role, text), in DOM order."""
        return [(m["seq"], m["role"], m["text"]) for m in await self.messages()]

    async def wait_for_count(self, count: int) -> None:
        """Wait until at least `count` messages are stored (acknowledged) and shown."""
        await self.page.wait_for_function(_COUNT_SENT_JS, arg=count)

    async def wait_for_text(self, role: str, text: str) -> None:
        """Wait until a stored message of `role` with exactly `text` is shown."""
        await self.page.wait_for_function(_HAS_TEXT_JS, arg=[role, text])

    async def focused(self) -> str | None:
        """The `data-role` (or tag) of the focused element inside the widget, if focus is in it."""
        role: str | None = await self.page.evaluate(_FOCUSED_JS)
        return role

    async def storage(self, slug: str, key: str) -> str | None:
        value: str | None = await self.page.evaluate(
            "(key) => localStorage.getItem(key)", f"chatbot:{slug}:{key}"
        )
        return value
