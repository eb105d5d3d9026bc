"""The dashboard in a real browser: from sign-up to taking a conversation over and back.

A `chatbot serve` process on SQLite, an operator and a website visitor in two separate
Chromium profiles; nothing is faked between them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Locator, Page, expect

from .dashboard_support import PASSWORD, XSS_IMG, XSS_SCRIPT, unique_email
from support import ServerProcess, until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QUESTION = "What are your opening hours?"
ANSWER = "We are open from 9 am to 5 pm, Monday to Friday."


async def sign_up(page: Page, base: str, name: str = "Sam") -> None:
    await page.goto(base + "/dashboard/signup/")
    await page.get_by_label("Your name").fill(name)
    await page.get_by_label("Email").fill(unique_email())
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_label("Password again").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page).to_have_url(re.compile(r"/dashboard/chatbots/new/$"))


async def create_chatbot(page: Page, name: str) -> str:
    """Create a chatbot with the form; returns its slug."""
    await page.get_by_label("Name", exact=True).fill(name)
    await page.get_by_role("button", name="Create chatbot").click()
    await expect(page).to_have_url(re.compile(r"/dashboard/chatbots/[0-9a-f-]+/knowledge/$"))
    href = await page.get_by_role("link", name="Demo page ↗").get_attribute("href")
    assert href is not None
    match = re.fullmatch(r"/demo/([a-z0-9-]+)/", href)
    assert match, href
    return match.group(1)


async def add_question(page: Page, question: str, answer: str) -> None:
    await page.get_by_label("Question", exact=True).fill(question)
    await page.get_by_label("Answer").fill(answer)
    await page.get_by_role("button", name="Add question").click()
    await expect(page.get_by_role("status")).to_contain_text("Entry added")


async def open_widget(context: BrowserContext, base: str, slug: str) -> Page:
    """The demo page with the widget opened, as a visitor sees it."""
    page = await context.new_page()
    await page.goto(f"{base}/demo/{slug}/")
    await page.locator("#chatbot-widget [data-role=launcher]").click()
    await expect(page.locator("#chatbot-widget [data-role=input]")).to_be_editable()
    return page


async def visitor_says(page: Page, text: str) -> None:
    box = page.locator("#chatbot-widget [data-role=input]")
    await box.fill(text)
    await box.press("Enter")
    visitor = page.locator("#chatbot-widget [data-role=message][data-message-role=visitor]")
    await expect(visitor.filter(has_text=text).last).to_have_attribute("data-status", "sent")


def watch_for_errors(page: Page) -> list[str]:
    """Script errors and console errors (CSP violations among them) the page reports."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    return problems


def widget_messages(page: Page, role: str) -> Locator:
    return page.locator(f"#chatbot-widget [data-role=message][data-message-role={role}]")


async def test_an_operator_takes_over_a_visitors_conversation_and_gives_it_back(
    server: ServerProcess,
    operator_context: BrowserContext,
    visitor_context: BrowserContext,
    screenshots: Path,
) -> None:
    base = server.base_url
    operator = await operator_context.new_page()
    problems = watch_for_errors(operator)
    await sign_up(operator, base)
    slug = await create_chatbot(operator, "Acme Support")
    await add_question(operator, QUESTION, ANSWER)
    await operator.get_by_label("Test question").fill("What are the opening hours?")
    await operator.get_by_role("button", name="Ask").click()
    await expect(operator.locator("[data-role=test-result]")).to_contain_text("9 am")
    await operator.screenshot(path=str(screenshots / "knowledge.png"), full_page=True)
    await operator.get_by_role("link", name="Settings").click()
    await operator.get_by_label("Header title").fill("Acme help desk")
    await expect(operator.locator("[data-role=preview-title]")).to_have_text("Acme help desk")
    await operator.screenshot(path=str(screenshots / "chatbot-settings.png"), full_page=True)

    await operator.get_by_role("link", name="Inbox", exact=True).click()
    await expect(operator.locator("[data-role=connection]")).to_have_text("Live")
    await operator.evaluate("window.__sameDocument = true")

    visitor = await open_widget(visitor_context, base, slug)
    await visitor_says(visitor, QUESTION)
    bot = widget_messages(visitor, "bot")
    await expect(bot.filter(has_text="9 am")).to_have_count(1)

    # The conversation shows up in the inbox live, with its latest message, without a reload.
    row = operator.locator("[data-role=conversations] > li")
    await expect(row).to_have_count(1)
    await expect(row.locator("[data-role=last-message]")).to_contain_text("9 am")
    assert await operator.evaluate("window.__sameDocument") is True
    await expect(row.locator("[data-role=unread]")).to_be_visible()

    # The visitor asks for a person: the row turns to "waiting", highlighted.
    await visitor.locator("#chatbot-widget [data-role=handoff]").click()
    await expect(row).to_have_attribute("data-status", "waiting_for_human")
    await expect(row.locator("[data-role=status]")).to_have_text("Waiting for a person")
    await operator.screenshot(path=str(screenshots / "inbox.png"))

    await row.locator("a").click()
    pane = operator.locator("[data-role=messages]")
    await expect(pane).to_contain_text(QUESTION)
    await operator.get_by_role("button", name="Take over").click()
    await expect(operator.get_by_role("button", name="Take over")).to_be_disabled()
    await expect(operator.locator("[data-role=conversation] [data-role=status]")).to_have_text(
        "Taken over"
    )

    reply = "Hi, this is Sam from the team. How can I help?"
    await operator.get_by_label("Reply").fill(reply)
    await operator.get_by_label("Reply").press("Enter")
    await expect(pane.locator("[data-message-role=operator]")).to_have_text(re.compile(reply))
    await expect(widget_messages(visitor, "operator")).to_have_text(reply)

    # While an operator has the conversation, the bot stays silent.
    bot_answers = await bot.count()
    await visitor_says(visitor, "Do you ship to Canada?")
    await expect(pane).to_contain_text("Do you ship to Canada?")
    await operator.screenshot(path=str(screenshots / "conversation.png"))

    # Released, the conversation is the bot's again.
    await operator.get_by_role("button", name="Release").click()
    await expect(operator.get_by_role("button", name="Release")).to_be_disabled()
    await visitor_says(visitor, QUESTION)
    await expect(bot).to_have_count(bot_answers + 1)
    await expect(bot.last).to_contain_text("9 am")
    # A conversation's answers come in the order of its questions: an answer to the question
    # asked during the takeover, however late, would have come before this one.
    assert await bot.count() == bot_answers + 1

    await operator.get_by_role("link", name="Analytics").click()
    await expect(operator.locator("[data-kpi=Conversations]")).to_have_text("1")
    await expect(operator.locator("[data-kpi='Handed to a person']")).to_have_text("100%")
    await operator.screenshot(path=str(screenshots / "analytics.png"), full_page=True)
    assert problems == []  # no script error, no blocked resource, no CSP violation


async def test_text_from_operators_and_visitors_is_shown_as_text_and_never_runs(
    server: ServerProcess,
    operator_context: BrowserContext,
    visitor_context: BrowserContext,
) -> None:
    base = server.base_url
    payload = f"{XSS_IMG}{XSS_SCRIPT}"
    operator = await operator_context.new_page()
    dialogs: list[str] = []
    operator.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await sign_up(operator, base, name=payload)
    slug = await create_chatbot(operator, f"Shop {payload}")
    await add_question(operator, f"{QUESTION} {payload}", f"{ANSWER} {payload}")
    await expect(operator.locator("[data-role=entry-title]")).to_contain_text(XSS_IMG)
    await operator.get_by_label("Test question").fill(QUESTION)
    await operator.get_by_role("button", name="Ask").click()
    await expect(operator.locator("[data-role=test-result]")).to_contain_text(XSS_SCRIPT)
    await operator.goto(base + "/dashboard/chatbots/")
    await expect(operator.locator("[data-role=chatbot-name]")).to_have_text(f"Shop {payload}")

    await operator.get_by_role("link", name="Inbox", exact=True).click()
    await expect(operator.locator("[data-role=connection]")).to_have_text("Live")
    visitor = await open_widget(visitor_context, base, slug)
    visitor.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await visitor_says(visitor, f"Hello {payload}")
    row = operator.locator("[data-role=conversations] > li")
    await expect(row.locator("[data-role=chatbot-name]")).to_have_text(f"Shop {payload}")
    await expect(row.locator("[data-role=last-message]")).to_contain_text(XSS_IMG)

    await row.locator("a").click()
    await expect(operator.locator("[data-message-role=visitor]")).to_contain_text(
        f"Hello {payload}"
    )
    await operator.get_by_role("button", name="Take over").click()
    await expect(operator.get_by_role("button", name="Take over")).to_be_disabled()
    await operator.get_by_label("Reply").fill(f"Sure {payload}")
    await operator.get_by_label("Reply").press("Enter")
    await expect(widget_messages(visitor, "operator")).to_have_text(f"Sure {payload}")
    await expect(
        operator.locator("[data-role=conversations] [data-role=last-message]")
    ).to_have_text(f"You: Sure {payload}")

    for page in (operator, visitor):
        assert await page.evaluate("window.__pwned") is None
        assert await page.locator("img[src=x]").count() == 0
    assert dialogs == []


async def test_the_inbox_reconnects_with_a_fresh_token_when_a_password_change_ends_its_socket(
    server: ServerProcess, operator_context: BrowserContext, visitor_context: BrowserContext
) -> None:
    base = server.base_url
    operator = await operator_context.new_page()
    problems = watch_for_errors(operator)
    await sign_up(operator, base)
    slug = await create_chatbot(operator, "Acme Support")
    await add_question(operator, QUESTION, ANSWER)
    sockets: list[str] = []
    operator.on("websocket", lambda socket: sockets.append(socket.url))
    await operator.get_by_role("link", name="Inbox", exact=True).click()
    await expect(operator.locator("[data-role=connection]")).to_have_text("Live")
    await operator.evaluate("window.__sameDocument = true")

    # The password changes in another tab of the same browser: this session goes on, and the
    # server closes the inbox's socket (4001), which reconnects with a fresh token.
    profile = await operator_context.new_page()
    await profile.goto(base + "/dashboard/profile/")
    await profile.get_by_label("Current password").fill(PASSWORD)
    await profile.get_by_label("New password", exact=True).fill(PASSWORD + "-changed")
    await profile.get_by_label("New password again").fill(PASSWORD + "-changed")
    await profile.get_by_role("button", name="Change password").click()
    await expect(profile.get_by_role("status")).to_contain_text("Password changed")
    await until(lambda: len(sockets) > 1, timeout=10, failure="the inbox's socket was not ended")
    await expect(operator.locator("[data-role=connection]")).to_have_text("Live")

    visitor = await open_widget(visitor_context, base, slug)
    await visitor_says(visitor, QUESTION)
    row = operator.locator("[data-role=conversations] > li")
    await expect(row.locator("[data-role=last-message]")).to_contain_text("9 am")
    assert await operator.evaluate("window.__sameDocument") is True
    assert problems == []


async def test_an_erased_visitor_leaves_the_inbox_and_their_widget_starts_afresh(
    server: ServerProcess,
    operator_context: BrowserContext,
    visitor_context: BrowserContext,
) -> None:
    base = server.base_url
    operator = await operator_context.new_page()
    problems = watch_for_errors(operator)
    await sign_up(operator, base)
    slug = await create_chatbot(operator, "Erasable")
    await operator.get_by_role("link", name="Inbox", exact=True).click()
    await expect(operator.locator("[data-role=connection]")).to_have_text("Live")

    visitor = await open_widget(visitor_context, base, slug)
    await visitor_says(visitor, "Please forget me afterwards")
    row = operator.locator("[data-role=conversations] > li")
    await expect(row).to_have_count(1)
    conversation_id = await row.get_attribute("data-conversation-id")
    token_key = f"chatbot:{slug}:visitor_token"
    old_token = await visitor.evaluate("(key) => localStorage.getItem(key)", token_key)

    # The owner asks for the visitor's data, then erases it, as a script with their token would.
    status = await operator.evaluate(
        """async (conversationId) => {
            const exported = await (await fetch(
                `/dashboard/conversations/${conversationId}/export/`)).json();
            const { access } = await (await fetch("/dashboard/token/")).json();
            const chatbotId = exported.conversations[0].chatbot_id;
            const response = await fetch(
                `/api/chatbots/${chatbotId}/visitors/${exported.visitor_id}/`,
                { method: "DELETE", headers: { Authorization: `Bearer ${access}` } });
            return response.status;
        }""",
        conversation_id,
    )
    assert status == 204

    await expect(row).to_have_count(0)  # gone from the inbox at once, without a reload
    # The widget is closed out, reconnects with its old token and starts a new conversation.
    await expect(widget_messages(visitor, "visitor")).to_have_count(0)
    await expect(visitor.locator("#chatbot-widget [data-role=input]")).to_be_editable()
    await visitor_says(visitor, "A new start")
    await expect(row).to_have_count(1)
    assert await row.get_attribute("data-conversation-id") != conversation_id
    new_token = await visitor.evaluate("(key) => localStorage.getItem(key)", token_key)
    assert new_token != old_token
    assert problems == []
