"""Webhooks page: create, test, retry, delete, the disabled notice, roles and bad input."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from webhook_support import FAST_RETRIES, Receiver, verify

from chatbot import keys
from chatbot.auth.repository import user_by_email
from chatbot.webhooks import repository as webhook_repo
from chatbot.workspaces import repository as workspace_repo
from chatbot.workspaces.repository import MemberChange
from chatbot.workspaces.roles import Role

from .dashboard_support import XSS_SCRIPT, csrf_of, post_form, sign_up
from conftest import AppClient, ClientFactory

pytestmark = pytest.mark.both_stacks

_WORKSPACE_PAGE = re.compile(r"/dashboard/workspaces/([0-9a-f-]{36})/webhooks/")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    site = Receiver()
    await site.start()
    yield site
    site.held.set()
    await site.close()


async def _browser(make_client: ClientFactory, **webhooks: Any) -> AppClient:
    return await make_client(brains={"semantic": False}, webhooks={**FAST_RETRIES, **webhooks})


async def _own_page(client: AppClient) -> str:
    """The logged-in user's webhooks page, reached from the navigation's link."""
    response = await client.get("/dashboard/webhooks/", allow_redirects=False)
    assert response.status == 303, await response.text()
    location = response.headers["Location"]
    assert _WORKSPACE_PAGE.fullmatch(location), location
    return location


def _workspace_of(page_path: str) -> str:
    match = _WORKSPACE_PAGE.fullmatch(page_path)
    assert match
    return match.group(1)


async def _hooks(client: AppClient, workspace_id: str) -> list[webhook_repo.WebhookRecord]:
    return await webhook_repo.list_webhooks(client.app[keys.ENGINE], workspace_id)


async def _add(client: AppClient, page_path: str, url: str, *events: str) -> Any:
    token = await csrf_of(client, page_path)
    data: list[tuple[str, str]] = [("csrf_token", token), ("url", url)]
    data += [("events", event) for event in events]
    return await client.post(page_path, data=data, allow_redirects=False)


def _row(page: str, delivery_id: str) -> str:
    match = re.search(
        rf'<tr data-role="delivery" data-delivery-id="{delivery_id}">(.*?)</tr>', page, re.S
    )
    assert match, f"delivery {delivery_id} is not on the page"
    return match.group(1)


def _cell(row: str, role: str) -> str:
    match = re.search(rf'data-role="{role}">(.*?)</', row, re.S)
    assert match, (role, row)
    return html.unescape(match.group(1)).strip()


async def _page_until(client: AppClient, path: str, check: Any, timeout: float = 15.0) -> str:
    """The page once `check(text)` holds (fails after `timeout`)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await client.get(path)
        assert response.status == 200
        text = await response.text()
        if check(text):
            return text
        assert asyncio.get_running_loop().time() < deadline, "the page never showed it"
        await asyncio.sleep(0.1)


async def test_add_test_retry_and_delete_a_webhook_from_the_page(
    make_client: ClientFactory, receiver: Receiver
) -> None:
    client = await _browser(make_client)
    await sign_up(client)
    path = await _own_page(client)
    empty = await (await client.get(path)).text()
    assert "No webhook yet" in empty
    assert 'href="/dashboard/webhooks/" aria-current="page"' in empty

    response = await _add(client, path, receiver.url, "message.created", "conversation.created")
    assert response.status == 303
    assert response.headers["Location"] == path
    [hook] = await _hooks(client, _workspace_of(path))
    assert hook.events == ("message.created", "conversation.created")
    page = await (await client.get(path)).text()
    assert "Webhook added" in page
    assert hook.secret in page  # the receiver needs it to check signatures

    # Send test event: the receiver gets a signed webhook.test; the page shows its answer.
    receiver.answers = [500]
    base = f"{path}{hook.id}/"
    assert (await post_form(client, base + "test/", {}, token_from=path)).status == 303
    await receiver.wait_for(2)  # a 500, then the retry's 200
    first, retried = receiver.received
    assert verify(hook.secret, first.headers, first.body)["type"] == "webhook.test"
    assert retried.webhook_id == first.webhook_id
    [delivery] = await webhook_repo.list_deliveries(client.app[keys.ENGINE], hook.id, 10)
    page = await _page_until(client, path, lambda t: "delivered" in _row(t, delivery.id))
    row = _row(page, delivery.id)
    assert _cell(row, "delivery-status") == "delivered"
    assert _cell(row, "delivery-attempts") == "2"
    assert _cell(row, "delivery-code") == "200"

    # Retry sends it once more, with the same webhook-id.
    retry = f"{base}deliveries/{delivery.id}/retry/"
    assert (await post_form(client, retry, {}, token_from=path)).status == 303
    await receiver.wait_for(3)
    assert receiver.received[2].webhook_id == first.webhook_id
    page = await _page_until(
        client, path, lambda t: _cell(_row(t, delivery.id), "delivery-attempts") == "3"
    )
    assert "sent again now" in page

    response = await post_form(client, base + "delete/", {}, token_from=path)
    assert response.status == 303
    assert await _hooks(client, _workspace_of(path)) == []
    assert "Webhook deleted" in await (await client.get(path)).text()
    gone = await post_form(client, base + "test/", {}, token_from=path)
    assert gone.status == 404
    assert "No such webhook" in await gone.text()


async def test_a_disabled_webhook_shows_a_notice_and_is_enabled_again(
    make_client: ClientFactory, receiver: Receiver
) -> None:
    receiver.default = 500
    client = await _browser(make_client, disable_after_seconds=0.3, retry_delays_seconds=[0.2] * 8)
    await sign_up(client)
    path = await _own_page(client)
    assert (await _add(client, path, receiver.url, "message.created")).status == 303
    [hook] = await _hooks(client, _workspace_of(path))
    assert (await post_form(client, f"{path}{hook.id}/test/", {}, token_from=path)).status == 303

    page = await _page_until(client, path, lambda t: 'data-role="disabled-notice"' in t)
    assert "every delivery attempt failed since" in page
    assert receiver.url in page
    assert 'data-role="webhook-state">disabled<' in page

    receiver.default = 200
    response = await post_form(client, f"{path}{hook.id}/enable/", {}, token_from=path)
    assert response.status == 303
    page = await (await client.get(path)).text()
    assert 'data-role="disabled-notice"' not in page
    assert 'data-role="webhook-state">enabled<' in page
    [delivery] = await webhook_repo.list_deliveries(client.app[keys.ENGINE], hook.id, 10)
    await _page_until(client, path, lambda t: "delivered" in _row(t, delivery.id))


@pytest.mark.parametrize(
    ("url", "events", "field", "message"),
    [
        ("", ["message.created"], "url", "is not a URL the server can POST to"),
        ("ftp://example.com/hook", ["message.created"], "url", "is not a URL"),
        ("https://user:pw@example.com/hook", ["message.created"], "url", "Leave credentials"),
        ("https://example.com/" + "a" * 2000, ["message.created"], "url", "at most 2000"),
        ("https://example.com/hook", [], "events", "at least 1"),
        ("https://example.com/hook", ["message.deleted"], "events", "Input should be"),
    ],
    ids=["empty", "not-http", "credentials", "too-long", "no-event", "unknown-event"],
)
async def test_bad_input_is_shown_on_the_form_and_nothing_is_added(
    make_client: ClientFactory, url: str, events: list[str], field: str, message: str
) -> None:
    client = await _browser(make_client)
    await sign_up(client)
    path = await _own_page(client)
    response = await _add(client, path, url, *events)
    assert response.status == 422
    page = html.unescape(await response.text())
    error = re.search(rf'<p class="error" id="e-{field}">(.*?)</p>', page, re.S)
    assert error, page
    assert message in error.group(1)
    assert await _hooks(client, _workspace_of(path)) == []


async def test_a_private_address_is_refused_without_the_setting(
    make_client: ClientFactory,
) -> None:
    client = await _browser(make_client, allow_private_targets=False)
    await sign_up(client)
    path = await _own_page(client)
    response = await _add(client, path, "http://127.0.0.1:9/hook", "message.created")
    assert response.status == 422
    page = html.unescape(await response.text())
    assert "CHATBOT_WEBHOOKS__ALLOW_PRIVATE_TARGETS" in page
    assert await _hooks(client, _workspace_of(path)) == []


async def test_over_the_cap_the_form_says_so(make_client: ClientFactory) -> None:
    client = await _browser(make_client, max_per_workspace=1)
    await sign_up(client)
    path = await _own_page(client)
    assert (await _add(client, path, "https://example.com/a", "message.created")).status == 303
    response = await _add(client, path, "https://example.com/b", "message.created")
    assert response.status == 409
    assert "delete one first" in await response.text()
    assert len(await _hooks(client, _workspace_of(path))) == 1


async def test_a_refused_url_is_shown_back_escaped(make_client: ClientFactory) -> None:
    client = await _browser(make_client)
    await sign_up(client)
    path = await _own_page(client)
    response = await _add(client, path, "https://example.com/" + XSS_SCRIPT, "message.created")
    assert response.status == 422
    page = await response.text()
    assert "<script>window.__pwned" not in page
    assert "&lt;script&gt;window.__pwned" in page


async def test_a_post_without_the_csrf_token_changes_nothing(make_client: ClientFactory) -> None:
    client = await _browser(make_client)
    await sign_up(client)
    path = await _own_page(client)
    data = {"url": "https://example.com/hook", "events": "message.created"}
    response = await client.post(path, data=data, allow_redirects=False)
    assert response.status == 403
    assert await _hooks(client, _workspace_of(path)) == []


async def test_agents_are_refused_and_others_see_no_such_workspace(
    make_client: ClientFactory,
) -> None:
    owner = await _browser(make_client)
    await sign_up(owner)
    path = await _own_page(owner)
    workspace_id = _workspace_of(path)
    assert (await _add(owner, path, "https://example.com/hook", "message.created")).status == 303
    [hook] = await _hooks(owner, workspace_id)

    agent = await _browser(make_client)
    agent_email = await sign_up(agent)
    outsider = await _browser(make_client)
    await sign_up(outsider)
    engine = owner.app[keys.ENGINE]
    agent_user = await _user_id(owner, agent_email)
    assert await workspace_repo.add_member(engine, workspace_id, agent_user, Role.AGENT)

    for browser, status, text in (
        (agent, 403, "only owners and admins"),
        (outsider, 404, "no such workspace"),
    ):
        page = await browser.get(path)
        assert page.status == status
        assert text in (await page.text()).lower()
        # Their own page is theirs: the form token comes from it.
        own = await _own_page(browser)
        for action in ("test/", "delete/", "enable/"):
            response = await post_form(browser, f"{path}{hook.id}/{action}", {}, token_from=own)
            assert response.status == status
        response = await post_form(
            browser,
            path,
            {"url": "https://example.com/x", "events": "message.created"},
            token_from=own,
        )
        assert response.status == status
    assert [h.id for h in await _hooks(owner, workspace_id)] == [hook.id]
    assert await webhook_repo.list_deliveries(engine, hook.id, 10) == []


async def test_a_user_who_manages_no_workspace_is_told_so(make_client: ClientFactory) -> None:
    owner = await _browser(make_client)
    owner_email = await sign_up(owner)
    agent = await _browser(make_client)
    agent_email = await sign_up(agent)
    engine = owner.app[keys.ENGINE]
    owner_id, agent_id = await _user_id(owner, owner_email), await _user_id(owner, agent_email)
    team = _workspace_of(await _own_page(owner))
    [own] = await workspace_repo.memberships(engine, agent_id)
    # The agent's own workspace passes to the owner; the agent is an agent of the team only.
    assert await workspace_repo.add_member(engine, own.workspace_id, owner_id, Role.OWNER)
    removed = await workspace_repo.remove_member(engine, own.workspace_id, agent_id)
    assert removed is MemberChange.DONE
    assert await workspace_repo.add_member(engine, team, agent_id, Role.AGENT)

    response = await agent.get("/dashboard/webhooks/")
    assert response.status == 403
    assert "Only owners and admins of a workspace manage its webhooks" in await response.text()


async def _user_id(client: AppClient, email: str) -> str:
    user = await user_by_email(client.app[keys.ENGINE], email)
    assert user is not None
    return user.id


async def test_the_webhooks_link_follows_the_workspace_switcher(
    make_client: ClientFactory,
) -> None:
    client = await _browser(make_client)
    email = await sign_up(client)
    own = _workspace_of(await _own_page(client))
    engine = client.app[keys.ENGINE]
    other = await workspace_repo.create_workspace(engine, await _user_id(client, email), "Other")

    response = await post_form(
        client,
        "/dashboard/workspace/",
        {"workspace_id": other.workspace_id, "next": "/dashboard/webhooks/"},
        token_from="/dashboard/chatbots/",
    )
    assert response.status == 303
    assert _workspace_of(await _own_page(client)) == other.workspace_id != own
