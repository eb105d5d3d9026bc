"""The Members page and the workspace switcher: invite (the link to copy), accept, change a
role, remove, and the last owner kept; as two people in one browser, one after the other."""

from __future__ import annotations

import html
import re

import pytest
from api_support import PASSWORD

from .dashboard_support import create_chatbot, csrf_of, post_form, sign_up, unique_email
from conftest import AppClient, ClientFactory

pytestmark = pytest.mark.both_stacks

_LINK = re.compile(r'value="[^"]*/dashboard/invitations/([^/"]+)/"')


@pytest.fixture
async def client(make_client: ClientFactory) -> AppClient:
    return await make_client(brains={"semantic": False})


async def _page(client: AppClient, path: str) -> str:
    response = await client.get(path)
    assert response.status == 200, await response.text()
    return html.unescape(await response.text())


async def _log_in_as(client: AppClient, email: str) -> None:
    client.session.cookie_jar.clear()
    response = await post_form(client, "/dashboard/login/", {"email": email, "password": PASSWORD})
    assert response.status == 303, await response.text()


async def _member_row(client: AppClient, email: str) -> str:
    page = await _page(client, "/dashboard/members/")
    rows = [row for row in page.split("<tr ")[1:] if email in row]
    return rows[0] if rows else ""


async def _invite(client: AppClient, email: str, role: str = "agent") -> str:
    response = await post_form(
        client,
        "/dashboard/members/invite/",
        {"email": email, "role": role},
        token_from="/dashboard/members/",
    )
    page = await response.text()
    assert response.status == 200, page
    match = _LINK.search(page)
    assert match, "the page shows no invitation link"
    return match.group(1)


async def test_an_invited_agent_joins_sees_the_workspace_and_changes_nothing(
    client: AppClient,
) -> None:
    alice = await sign_up(client, name="Alice")
    await create_chatbot(client, "Shared bot")
    bob = unique_email()
    token = await _invite(client, bob)
    assert bob in await _page(client, "/dashboard/members/")  # pending

    client.session.cookie_jar.clear()
    await sign_up(client, email=bob, name="Bob")
    assert "Accept the invitation" in await _page(client, f"/dashboard/invitations/{token}/")
    accepted = await post_form(
        client,
        f"/dashboard/invitations/{token}/",
        {},
        token_from=f"/dashboard/invitations/{token}/",
    )

    assert accepted.status == 303
    assert accepted.headers["Location"] == "/dashboard/inbox/"
    members = await _page(client, "/dashboard/members/")
    assert "Members of Alice's workspace" in members
    assert alice in members
    assert "Remove" not in members  # an agent manages nobody
    assert "Shared bot" in await _page(client, "/dashboard/chatbots/")
    refused = await post_form(
        client,
        "/dashboard/members/invite/",
        {"email": unique_email(), "role": "agent"},
        token_from="/dashboard/members/",
    )
    assert refused.status == 403
    again = await post_form(
        client,
        f"/dashboard/invitations/{token}/",
        {},
        token_from=f"/dashboard/invitations/{token}/",
    )
    assert again.status == 404

    # The switcher: Bob's own workspace has no chatbot.
    switcher = await _page(client, "/dashboard/chatbots/")
    own = re.search(r'<option value="([^"]+)"[^>]*>Bob\'s workspace</option>', switcher)
    assert own, "the switcher does not offer Bob's own workspace"
    switched = await post_form(
        client,
        "/dashboard/workspace/",
        {"workspace_id": own.group(1), "next": "/dashboard/chatbots/"},
        token_from="/dashboard/chatbots/",
    )
    assert switched.headers["Location"] == "/dashboard/chatbots/"
    assert "Shared bot" not in await _page(client, "/dashboard/chatbots/")


async def test_an_owner_changes_roles_removes_members_and_keeps_an_owner(
    client: AppClient,
) -> None:
    alice = await sign_up(client, name="Alice")
    bob = unique_email()
    token = await _invite(client, bob)
    client.session.cookie_jar.clear()
    await sign_up(client, email=bob, name="Bob")
    await post_form(
        client,
        f"/dashboard/invitations/{token}/",
        {},
        token_from=f"/dashboard/invitations/{token}/",
    )
    await _log_in_as(client, alice)
    bob_row = await _member_row(client, bob)
    bob_id = re.search(r'data-user-id="([^"]+)"', bob_row)
    alice_id = re.search(r'data-user-id="([^"]+)"', await _member_row(client, alice))
    assert bob_id
    assert alice_id

    promoted = await post_form(
        client,
        f"/dashboard/members/{bob_id.group(1)}/role/",
        {"role": "admin"},
        token_from="/dashboard/members/",
    )
    assert promoted.status == 303
    assert '<option value="admin" selected>' in await _member_row(client, bob)

    kept = await post_form(
        client,
        f"/dashboard/members/{alice_id.group(1)}/role/",
        {"role": "agent"},
        token_from="/dashboard/members/",
    )
    assert kept.status == 303
    page = await _page(client, "/dashboard/members/")
    assert "keeps at least one owner" in page
    assert '<option value="owner" selected>' in await _member_row(client, alice)

    removed = await post_form(
        client,
        f"/dashboard/members/{bob_id.group(1)}/remove/",
        {},
        token_from="/dashboard/members/",
    )
    assert removed.status == 303
    assert await _member_row(client, bob) == ""


async def test_a_bad_invitation_form_is_shown_again_with_the_error(client: AppClient) -> None:
    await sign_up(client, name="Alice")
    token = await csrf_of(client, "/dashboard/members/")

    response = await client.post(
        "/dashboard/members/invite/",
        data={"csrf_token": token, "email": "not an email", "role": "agent"},
    )

    assert response.status == 422
    assert "email address" in html.unescape(await response.text())
