"""A team in real browsers: an owner invites an agent, the agent takes over a visitor's request
for a person, the owner's Inbox shows it assigned to the agent; removed, the agent's Inbox stops
updating. Three Chromium profiles against one `chatbot serve` process.

The invitation is made and accepted over REST (with each person's own login), the removal too:
the Members page is not part of this change.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from .dashboard_support import PASSWORD, unique_email
from .test_dashboard_browser import create_chatbot, open_widget, visitor_says
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


async def _api(
    http: aiohttp.ClientSession, method: str, path: str, status: int, **options: Any
) -> Any:
    async with http.request(method, path, **options) as response:
        body = await response.json() if response.status != 204 else None
        assert response.status == status, body
        return body


async def _login(http: aiohttp.ClientSession, email: str) -> dict[str, str]:
    body = await _api(
        http, "POST", "/auth/login/", 200, json={"email": email, "password": PASSWORD}
    )
    return {"Authorization": f"Bearer {body['access']}"}


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

    async with browser_context(browser) as agent_context, aiohttp.ClientSession(base) as http:
        agent = await agent_context.new_page()
        await sign_up(agent, base, "Agnes", agent_email)

        owner_auth = await _login(http, owner_email)
        workspaces = await _api(http, "GET", "/api/workspaces/", 200, headers=owner_auth)
        [workspace_id] = [w["id"] for w in workspaces["items"] if w["role"] == "owner"]
        invitation = await _api(
            http,
            "POST",
            f"/api/workspaces/{workspace_id}/invitations/",
            201,
            json={"email": agent_email, "role": "agent"},
            headers=owner_auth,
        )
        agent_auth = await _login(http, agent_email)
        joined = await _api(
            http, "POST", f"/api/invitations/{invitation['token']}/accept/", 200, headers=agent_auth
        )
        agent_id = (await _api(http, "GET", "/auth/me/", 200, headers=agent_auth))["id"]
        assert joined["workspace"]["role"] == "agent"

        for page in (owner, agent):
            await page.goto(base + "/dashboard/inbox/")
            await expect(page.locator("[data-role=connection]")).to_have_text("Live")
        # The owner sees the agent online.
        agent_presence = owner.locator(f"[data-role=team] [data-user-id='{agent_id}']")
        await expect(agent_presence).to_have_attribute("data-online", "true")

        visitor = await open_widget(visitor_context, base, slug)
        await visitor_says(visitor, "Hello, anyone there?")
        handoff = visitor.locator("#chatbot-widget [data-role=handoff]")
        await expect(handoff).to_be_visible()  # offered with the bot's answer
        await handoff.click()

        agent_row = agent.locator("[data-role=conversations] > li")
        await expect(agent_row).to_have_attribute("data-status", "waiting_for_human")
        await agent_row.locator("a").click()
        await agent.get_by_role("button", name="Take over").click()
        await expect(agent.locator("[data-role=assigned]")).to_have_text("Assigned to Agnes")

        owner_row = owner.locator("[data-role=conversations] > li")
        await expect(owner_row.locator("[data-role=assignee]")).to_have_text("Agnes")
        await expect(owner_row).to_have_attribute("data-status", "human")

        await _api(
            http,
            "DELETE",
            f"/api/workspaces/{workspace_id}/members/{agent_id}/",
            204,
            headers=owner_auth,
        )
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
