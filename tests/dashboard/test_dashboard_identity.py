"""Identity in the dashboard: the conversation view marks a verified visitor (name, email,
user id, "verified"); the chatbot's settings page sets the mode and shows and renews the secret.

On SQLite, then on PostgreSQL; the visitors talk over the real socket.
"""

from __future__ import annotations

import hashlib
import hmac
import html
from typing import Any
from urllib.parse import urlencode

import pytest

from .dashboard_support import access_token, create_chatbot, post_form, sign_up
from conftest import AppClient, ClientFactory

VERIFIED_MARK = 'data-role="verified"'


@pytest.fixture
async def client(make_client: ClientFactory, database_url: str) -> AppClient:
    """The app on this test's database (SQLite, then PostgreSQL)."""
    return await make_client(database_url=database_url, brains={"semantic": False})


async def _optional_chatbot(client: AppClient) -> dict[str, Any]:
    """A chatbot made in the dashboard, then set to optional verification through the API."""
    await sign_up(client)
    chatbot_id = await create_chatbot(client, "Echo", brain_type="echo", greeting="")
    headers = {"Authorization": f"Bearer {await access_token(client)}"}
    response = await client.patch(
        f"/api/chatbots/{chatbot_id}/", json={"identity_verification": "optional"}, headers=headers
    )
    chatbot: dict[str, Any] = await response.json()
    assert response.status == 200, chatbot
    return chatbot


async def _conversation(client: AppClient, path: str, data: dict[str, str]) -> str:
    """A visitor who identifies with `data` and writes one message; the conversation's id."""
    async with client.ws_connect(path) as ws:
        welcome = await ws.receive_json(timeout=5)
        await ws.send_json({"type": "identify", "data": data})
        await ws.send_json({"type": "message", "text": "hello", "client_id": "c1"})
        while True:
            frame = await ws.receive_json(timeout=5)
            if frame["type"] == "message" and frame["message"]["role"] == "bot":
                break
    conversation_id: str = welcome["conversation_id"]
    return conversation_id


async def test_a_verified_visitor_is_shown_with_name_email_and_the_verified_mark(
    client: AppClient,
) -> None:
    chatbot = await _optional_chatbot(client)
    user_id = "<b>ada-1</b>"  # shown as text, never as markup
    user_hash = hmac.new(
        chatbot["identity_secret"].encode(), user_id.encode(), hashlib.sha256
    ).hexdigest()
    socket = f"/ws/chat/public/{chatbot['slug']}/"
    verified_path = socket + "?" + urlencode({"user_id": user_id, "user_hash": user_hash})
    wrong_path = socket + "?" + urlencode({"user_id": user_id, "user_hash": "f" * 64})
    identity = {"name": "Ada Lovelace", "email": "ada@example.com"}

    verified = await _conversation(client, verified_path, identity)
    claimed = await _conversation(client, wrong_path, identity)

    page = await (await client.get(f"/dashboard/conversations/{verified}/")).text()
    assert VERIFIED_MARK in page
    assert '<span data-role="verified-name">Ada Lovelace</span>' in page
    assert '<span data-role="verified-email">ada@example.com</span>' in page
    assert f'<code data-role="verified-user-id">{html.escape(user_id)}</code>' in page
    assert "<b>ada-1</b>" not in page
    # The same words from a visitor who did not prove them: listed, but not marked.
    page = await (await client.get(f"/dashboard/conversations/{claimed}/")).text()
    assert VERIFIED_MARK not in page
    assert "<dd>Ada Lovelace</dd>" in page


async def _api_chatbot(client: AppClient, chatbot_id: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {await access_token(client)}"}
    response = await client.get(f"/api/chatbots/{chatbot_id}/", headers=headers)
    chatbot: dict[str, Any] = await response.json()
    assert response.status == 200, chatbot
    return chatbot


async def test_the_settings_page_sets_the_mode_and_shows_and_renews_the_secret(
    client: AppClient, make_client: ClientFactory, database_url: str
) -> None:
    await sign_up(client)
    chatbot_id = await create_chatbot(client, "Echo", brain_type="echo")
    settings = f"/dashboard/chatbots/{chatbot_id}/"
    before = await _api_chatbot(client, chatbot_id)

    page = await (await client.get(settings)).text()
    assert f'data-role="identity-secret">{before["identity_secret"]}</code>' in page
    chosen = await post_form(
        client, settings + "identity/", {"identity_verification": "required"}, token_from=settings
    )
    refused = await post_form(
        client, settings + "identity/", {"identity_verification": "maybe"}, token_from=settings
    )
    after_mode = await _api_chatbot(client, chatbot_id)
    rotated = await post_form(client, settings + "identity-secret/", {}, token_from=settings)
    after_rotation = await _api_chatbot(client, chatbot_id)
    page = await (await client.get(settings)).text()

    assert chosen.status == refused.status == rotated.status == 303
    assert after_mode["identity_verification"] == "required"
    assert after_mode["identity_secret"] == before["identity_secret"]
    assert after_rotation["identity_verification"] == "required"
    assert after_rotation["identity_secret"] != before["identity_secret"]
    assert f'data-role="identity-secret">{after_rotation["identity_secret"]}</code>' in page
    assert before["identity_secret"] not in page

    stranger = await make_client(database_url=database_url, brains={"semantic": False})
    await sign_up(stranger)
    for path in ("identity/", "identity-secret/"):
        response = await post_form(
            stranger, settings + path, {"identity_verification": "off"}, token_from="/dashboard/"
        )
        assert response.status == 404
    assert await _api_chatbot(client, chatbot_id) == after_rotation
