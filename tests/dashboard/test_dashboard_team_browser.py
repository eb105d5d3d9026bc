"""A team in real browsers: an owner invites an agent on the Members page, the agent opens the
invitation link in their own browser and accepts it, takes over a visitor's request for a person,
and the owner's Inbox shows it assigned to the agent; removed on the Members page, the agent's
Inbox stops updating. Three Chromium profiles against one `chatbot serve` process.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from .dashboard_support import PASSWORD, unique_email
from .test_dashboard_browser import add_question, create_chatbot, open_widget, visitor_says
from support import ServerProcess, browser_context

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def sign_up(page: Page, base: str, name: str, email: str) -> None:
    await page.goto(base + "/dashboard/signup/")
    await page.get_by_label("Your name").fill(name)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_label("Password again").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page).to_have_url(re.compile(r"/dashboard/chatbots/new/$"))


async def invite_on_members_page(members: Page, base: str, email: str) -> str:
    """The owner invites `email` as an agent; returns the invitation link the page shows."""
    await members.goto(base + "/dashboard/members/")
    await members.get_by_label("Email", exact=True).fill(email)
    await members.get_by_label("Role", exact=True).select_option("agent")
    await members.get_by_role("button", name="Create invitation link").click()
    link = members.locator("[data-role=invite-url]")
    await expect(link).to_have_value(re.compile(r"/dashboard/invitations/[^/]+/$"))
    await expect(members.locator("[data-role=pending-invitations]")).to_contain_text(email)
    return await link.input_value()


async def test_an_agent_works_the_owners_inbox_until_removed(
    server: ServerProcess,
    browser: Browser,
    operator_context: BrowserContext,
    visitor_context: BrowserContext,
) -> None:
    base = server.base_url
    owner_email, agent_email = unique_email(), unique_email()
    owner = await operator_context.new_page()
    await sign_up(owner, base, "Olivia", owner_email)
    slug = await create_chatbot(owner, "Acme Support")
    # Answered, the conversation stays with the bot until the visitor asks for a person (a
    # question the bot cannot answer would hand it over by itself).
    await add_question(owner, "Hello, anyone there?", "Hello! I am the Acme bot.")

    async with browser_context(browser) as agent_context:
        agent = await agent_context.new_page()
        await sign_up(agent, base, "Agnes", agent_email)

        members = await operator_context.new_page()  # the owner's second tab
        link = await invite_on_members_page(members, base, agent_email)
        await agent.goto(link)
        await agent.get_by_role("button", name="Accept the invitation").click()
        await expect(agent).to_have_url(re.compile(r"/dashboard/inbox/$"))
        await members.reload()
        agent_member = members.locator("[data-role=members] tr", has_text=agent_email)
        await expect(agent_member.get_by_label(f"Role of {agent_email}")).to_have_value("agent")
        agent_id = await agent_member.get_attribute("data-user-id")
        assert agent_id

        for page in (owner, agent):
            await page.goto(base + "/dashboard/inbox/")
            await expect(page.locator("[data-role=connection]")).to_have_text("Live")
        # The owner sees the agent online.
        agent_presence = owner.locator(f"[data-role=team] [data-user-id='{agent_id}']")
        await expect(agent_presence).to_have_attribute("data-online", "true")

        visitor = await open_widget(visitor_context, base, slug)
        await visitor_says(visitor, "Hello, anyone there?")
        bot_answer = visitor.locator("#chatbot-widget [data-message-role=bot]")
        await expect(bot_answer.filter(has_text="I am the Acme bot")).to_have_count(1)
        handoff = visitor.locator("#chatbot-widget [data-role=handoff]")
        await expect(handoff).to_be_visible()
        await handoff.click()

        agent_row = agent.locator("[data-role=conversations] > li")
        await expect(agent_row).to_have_attribute("data-status", "waiting_for_human")
        await agent_row.locator("a").click()
        await agent.get_by_role("button", name="Take over").click()
        await expect(agent.locator("[data-role=assigned]")).to_have_text("Assigned to Agnes")

        owner_row = owner.locator("[data-role=conversations] > li")
        await expect(owner_row.locator("[data-role=assignee]")).to_have_text("Agnes")
        await expect(owner_row).to_have_attribute("data-status", "human")

        await agent_member.get_by_role("button", name="Remove").click()
        await expect(members.locator("[data-role=members]")).not_to_contain_text(agent_email)
        await visitor_says(visitor, "Still waiting here")
        await expect(owner_row.locator("[data-role=last-message]")).to_contain_text(
            "Still waiting here"
        )
        agent_pane = agent.locator("[data-role=messages]")
        await expect(agent_pane).to_contain_text("Hello, anyone there?")
        await agent.wait_for_timeout(1000)
        await expect(agent_pane).not_to_contain_text("Still waiting here")
        await expect(agent_row.locator("[data-role=last-message]")).not_to_contain_text(
            "Still waiting here"
        )
