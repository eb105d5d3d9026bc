"""The API keys page: keys with their last use, create (the key shown once), revoke."""

from __future__ import annotations

import asyncio
import html
import re

from chatbot import keys
from chatbot.workspaces.repository import add_member
from chatbot.workspaces.roles import Role

from .dashboard_support import access_token, post_form, sign_up, user_id_of
from conftest import AppClient

PAGE = "/dashboard/api-keys/"
_WORKSPACE = re.compile(r'name="workspace_id" value="([^"]+)"')


async def page_text(client: AppClient, path: str = PAGE) -> str:
    response = await client.get(path)
    text = await response.text()
    assert response.status == 200, text
    return text


def workspace_in(page: str) -> str:
    match = _WORKSPACE.search(page)
    assert match, "the page has no workspace field"
    return html.unescape(match.group(1))


def new_key_in(page: str) -> str:
    match = re.search(r'value="(cb_live_[^"]+)" data-role="new-key"', page)
    assert match, "the page shows no new key"
    return html.unescape(match.group(1))


async def api_status(client: AppClient, key: str) -> int:
    response = await client.get("/api/chatbots/", headers={"Authorization": f"Bearer {key}"})
    await response.read()
    status: int = response.status
    return status


async def test_a_key_made_on_the_page_is_shown_once_works_and_is_revoked(
    client: AppClient,
) -> None:
    await sign_up(client)
    empty = await page_text(client)
    assert "No API key yet" in empty
    workspace_id = workspace_in(empty)

    created = await post_form(client, PAGE, {"workspace_id": workspace_id, "name": "CRM sync"})
    shown = await created.text()
    assert created.status == 201, shown
    key = new_key_in(shown)
    assert "shown only this once" in shown
    assert await api_status(client, key) == 200

    listing = await page_text(client)
    assert key not in listing
    assert "CRM sync" in listing
    assert key[:12] in listing
    for _ in range(100):  # the use is written in the background, soon after
        row = listing.split('data-role="api-key-name">CRM sync', 1)[1].split("</tr>", 1)[0]
        if "<time" in row.split('data-role="last-used"', 1)[1]:
            break
        await asyncio.sleep(0.05)
        listing = await page_text(client)
    else:
        raise AssertionError("the page never showed when the key was last used")

    key_id = re.search(r'data-api-key-id="([^"]+)"', listing)
    assert key_id
    revoked = await post_form(
        client,
        f"{PAGE}{key_id.group(1)}/delete/",
        {"workspace_id": workspace_id},
        token_from=PAGE,
    )
    assert revoked.status == 303
    assert revoked.headers["Location"] == PAGE
    assert await api_status(client, key) == 401
    after = await page_text(client, revoked.headers["Location"])
    assert "was revoked" in after
    assert "No API key yet" in after


async def test_a_bad_name_is_refused_on_the_form(client: AppClient) -> None:
    await sign_up(client)
    workspace_id = workspace_in(await page_text(client))
    for name, message in (("   ", "blank"), ("x" * 101, "at most 100")):
        response = await post_form(client, PAGE, {"workspace_id": workspace_id, "name": name})
        text = await response.text()
        assert response.status == 422, text
        assert message in text
        assert "cb_live_" not in text
    assert "No API key yet" in await page_text(client)


async def test_another_workspace_is_not_found(client: AppClient) -> None:
    await sign_up(client)
    mine = workspace_in(await page_text(client))
    token = await access_token(client)
    created = await post_form(client, PAGE, {"workspace_id": mine, "name": "Mine"})
    key_id = re.search(r'data-api-key-id="([^"]+)"', await created.text())
    assert key_id
    client.session.cookie_jar.clear()
    await sign_up(client)
    theirs = workspace_in(await page_text(client))
    assert theirs != mine

    sneaky = await post_form(
        client, PAGE, {"workspace_id": mine, "name": "Sneaky"}, token_from=PAGE
    )
    assert sneaky.status == 404
    revoked = await post_form(
        client, f"{PAGE}{key_id.group(1)}/delete/", {"workspace_id": mine}, token_from=PAGE
    )
    assert revoked.status == 404
    # Nor does naming one's own workspace reach another's key.
    crossed = await post_form(
        client, f"{PAGE}{key_id.group(1)}/delete/", {"workspace_id": theirs}, token_from=PAGE
    )
    assert crossed.status == 404
    response = await client.get(
        f"/api/workspaces/{mine}/api-keys/", headers={"Authorization": f"Bearer {token}"}
    )
    assert [item["name"] for item in (await response.json())["items"]] == ["Mine"]


async def test_an_agent_may_not_manage_the_workspaces_keys(client: AppClient) -> None:
    await sign_up(client)
    owners = workspace_in(await page_text(client))
    client.session.cookie_jar.clear()
    await sign_up(client)
    own = workspace_in(await page_text(client))
    engine = client.app[keys.ENGINE]
    assert await add_member(engine, owners, await user_id_of(client), Role.AGENT)

    created = await post_form(
        client, PAGE, {"workspace_id": owners, "name": "Sneaky"}, token_from=PAGE
    )
    assert created.status == 403
    switched = await post_form(
        client, "/dashboard/workspace/", {"workspace_id": owners, "next": PAGE}, token_from=PAGE
    )
    assert switched.status == 303
    shown = await client.get(PAGE)
    assert shown.status == 403
    assert "only owners and admins" in (await shown.text()).lower()
    back = await post_form(
        client,
        "/dashboard/workspace/",
        {"workspace_id": own, "next": PAGE},
        token_from="/dashboard/inbox/",
    )
    assert back.status == 303
    assert workspace_in(await page_text(client)) == own
