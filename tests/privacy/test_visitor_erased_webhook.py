"""Erasing a visitor sends `visitor.erased`, signed, without any of the visitor's data."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from privacy_support import chat, owner_with_chatbot, say, visitor_chats
from sqlalchemy import select
from webhook_support import FAST_RETRIES, Receiver, add_webhook, own_workspace_id, verify

from chatbot import keys
from chatbot.storage.schema import webhook_deliveries

from conftest import AppClient, ClientFactory

pytestmark = pytest.mark.both_stacks

EMAIL = "ada.lovelace@example.com"
NAME = "Ada Lovelace"
SECRET_TEXT = "my card ends in 4242"


@pytest.fixture
async def api(make_client: ClientFactory) -> AppClient:
    return await make_client(webhooks=FAST_RETRIES)


@pytest.fixture
async def receivers() -> AsyncIterator[tuple[Receiver, Receiver]]:
    subscribed, other = Receiver(), Receiver()
    await subscribed.start()
    await other.start()
    yield subscribed, other
    await subscribed.close()
    await other.close()


async def _until_identified(api: AppClient, url: str, headers: dict[str, str]) -> None:
    deadline = time.monotonic() + 10
    while True:
        response = await api.get(url + "export/", headers=headers)
        body: dict[str, Any] = await response.json()
        assert response.status == 200, body
        if body["conversations"][0]["visitor_data"].get("email") == EMAIL:
            return
        assert time.monotonic() < deadline, f"identify never stored: {body}"
        await asyncio.sleep(0.1)


async def _stored_event_types(api: AppClient) -> list[str]:
    async with api.app[keys.ENGINE].connect() as connection:
        return list(await connection.scalars(select(webhook_deliveries.c.event_type)))


async def test_erasure_sends_a_signed_event_with_ids_only_to_subscribed_webhooks(
    api: AppClient, receivers: tuple[Receiver, Receiver]
) -> None:
    subscribed, other = receivers
    owner = await owner_with_chatbot(api)
    workspace_id = await own_workspace_id(api, owner.headers)
    webhook = await add_webhook(
        api, owner.headers, workspace_id, subscribed.url, ["visitor.erased"]
    )
    await add_webhook(api, owner.headers, workspace_id, other.url, ["conversation.status_changed"])
    bob = await visitor_chats(api, owner.slug, "I am Bob")
    async with api.ws_connect(f"/ws/chat/public/{owner.slug}/") as socket:
        ada = await chat(socket, f"I am {NAME}", SECRET_TEXT)
        await socket.send_json({"type": "identify", "data": {"email": EMAIL, "name": NAME}})
        await say(socket, "anything else?")
    url = owner.visitor_url(ada.visitor_id)
    await _until_identified(api, url, owner.headers)
    assert await _stored_event_types(api) == []  # only the erasure is subscribed to

    before = datetime.now().astimezone()
    response = await api.delete(url, headers=owner.headers)
    assert response.status == 204, await response.text()

    await subscribed.wait_for(1)
    await asyncio.sleep(0.3)  # nothing more comes, to either receiver
    assert len(subscribed.received) == 1
    assert other.received == []
    assert await _stored_event_types(api) == ["visitor.erased"]
    delivery = subscribed.received[0]
    body = verify(webhook["secret"], delivery.headers, delivery.body)
    assert body["type"] == "visitor.erased"
    data = body["data"]
    assert data == {
        "chatbot_id": owner.chatbot["id"],
        "workspace_id": workspace_id,
        "visitor_id": ada.visitor_id,
        "conversations": 1,
        "conversation_ids": [ada.conversation_id],
        "erased_at": data["erased_at"],
    }
    assert datetime.fromisoformat(data["erased_at"]) >= before.replace(microsecond=0)
    raw = delivery.body.decode()
    for personal in (EMAIL, NAME, "Ada", SECRET_TEXT, "4242", ada.visitor_token):
        assert personal not in raw, f"{personal!r} leaked into the event: {raw}"
    assert bob.visitor_id not in raw
    assert bob.conversation_id not in raw

    # Erasing again finds nothing and sends nothing.
    response = await api.delete(url, headers=owner.headers)
    assert response.status == 404
    await asyncio.sleep(0.3)
    assert len(subscribed.received) == 1


async def test_a_workspace_without_an_erasure_webhook_stores_no_event(
    api: AppClient, receivers: tuple[Receiver, Receiver]
) -> None:
    subscribed, _ = receivers
    owner = await owner_with_chatbot(api)
    workspace_id = await own_workspace_id(api, owner.headers)
    await add_webhook(api, owner.headers, workspace_id, subscribed.url, ["message.created"])
    # Another workspace's erasure webhook hears nothing of this one.
    stranger = await owner_with_chatbot(api)
    stranger_workspace = await own_workspace_id(api, stranger.headers)
    await add_webhook(api, stranger.headers, stranger_workspace, subscribed.url, ["visitor.erased"])
    visitor = await visitor_chats(api, owner.slug, "hello")
    await subscribed.wait_for(3)  # the greeting, the message and its answer
    response = await api.delete(owner.visitor_url(visitor.visitor_id), headers=owner.headers)
    assert response.status == 204, await response.text()
    await asyncio.sleep(0.5)
    assert [r.json["type"] for r in subscribed.received] == ["message.created"] * 3
    assert "visitor.erased" not in await _stored_event_types(api)
