"""Webhooks delivered by the real app on both stacks, to receivers started by the tests.

Every body received is checked with the independent verifier of `webhook_support`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select
from visitor_support import operator_acts, visitor_says
from webhook_support import (
    FAST_RETRIES,
    Receiver,
    account,
    add_webhook,
    echo_chatbot,
    until_deliveries,
    verify,
)

from chatbot import keys
from chatbot.storage.schema import webhook_deliveries

from conftest import AppClient, ClientFactory

pytestmark = pytest.mark.both_stacks

ALL_EVENTS = ["conversation.created", "message.created", "conversation.status_changed"]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    site = Receiver()
    await site.start()
    yield site
    site.held.set()
    await site.close()


async def _outbox_rows(client: AppClient) -> int:
    async with client.app[keys.ENGINE].connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(webhook_deliveries)))


async def test_a_conversation_sends_signed_events_in_the_contracts_shape(
    make_client: ClientFactory, receiver: Receiver
) -> None:
    client = await make_client(webhooks=FAST_RETRIES)
    headers, workspace_id = await account(client)
    chatbot = await echo_chatbot(client, headers)
    webhook = await add_webhook(client, headers, workspace_id, receiver.url, ALL_EVENTS)
    conversation_id = await visitor_says(client, chatbot["slug"], ["hello", "again"])
    await operator_acts(client, headers, conversation_id, status="human", texts=("I am here",))
    # created; the greeting, 2 visitor messages, 2 answers and the operator's; one status change
    await receiver.wait_for(8)
    await asyncio.sleep(0.3)  # nothing more comes
    assert len(receiver.received) == 8
    bodies = [verify(webhook["secret"], r.headers, r.body) for r in receiver.received]
    assert len({r.webhook_id for r in receiver.received}) == 8
    for body in bodies:
        assert set(body) == {"type", "timestamp", "data"}
        assert body["data"]["workspace_id"] == workspace_id
        assert body["data"]["chatbot_id"] == chatbot["id"]
    created = [b["data"] for b in bodies if b["type"] == "conversation.created"]
    assert [c["id"] for c in created] == [conversation_id]
    assert created[0]["status"] == "bot"
    messages = sorted(
        (b["data"] for b in bodies if b["type"] == "message.created"), key=lambda m: m["seq"]
    )
    assert [(m["seq"], m["role"]) for m in messages] == [
        (1, "bot"),
        (2, "visitor"),
        (3, "bot"),
        (4, "visitor"),
        (5, "bot"),
        (6, "operator"),
    ]
    assert messages[1]["text"] == "hello"
    assert {m["conversation_id"] for m in messages} == {conversation_id}
    assert set(messages[0]) >= {"id", "seq", "conversation_id", "role", "text", "created_at"}
    changes = [b["data"] for b in bodies if b["type"] == "conversation.status_changed"]
    assert [(c["id"], c["status"]) for c in changes] == [(conversation_id, "human")]
    items = await until_deliveries(
        client,
        headers,
        workspace_id,
        webhook["id"],
        lambda items: len(items) == 8 and all(i["status"] == "delivered" for i in items),
    )
    assert all(i["attempts"] == 1 and i["last_status_code"] == 200 for i in items)
    assert {i["event_type"] for i in items} == set(ALL_EVENTS)


async def test_only_subscribed_events_are_stored_and_none_without_webhooks(
    make_client: ClientFactory, receiver: Receiver
) -> None:
    client = await make_client(webhooks=FAST_RETRIES)
    headers, workspace_id = await account(client)
    chatbot = await echo_chatbot(client, headers)
    await visitor_says(client, chatbot["slug"], ["before any webhook"], handoff=True)
    assert await _outbox_rows(client) == 0
    other_headers, other_workspace = await account(client)
    other_chatbot = await echo_chatbot(client, other_headers)
    await add_webhook(client, headers, workspace_id, receiver.url, ["conversation.status_changed"])
    await visitor_says(client, other_chatbot["slug"], ["another workspace"], handoff=True)
    await visitor_says(client, chatbot["slug"], ["hello"], handoff=True)
    await receiver.wait_for(1)
    await asyncio.sleep(0.3)
    assert [r.json["type"] for r in receiver.received] == ["conversation.status_changed"]
    assert receiver.received[0].json["data"]["status"] == "waiting_for_human"
    assert await _outbox_rows(client) == 1
    assert other_workspace != workspace_id


async def test_a_receiver_failing_twice_gets_the_same_webhook_id_three_times(
    make_client: ClientFactory, receiver: Receiver
) -> None:
    receiver.answers = [500, 500]
    client = await make_client(webhooks=FAST_RETRIES)
    headers, workspace_id = await account(client)
    chatbot = await echo_chatbot(client, headers)
    webhook = await add_webhook(
        client, headers, workspace_id, receiver.url, ["conversation.created"]
    )
    conversation_id = await visitor_says(client, chatbot["slug"], ["hello"], answered=False)
    items = await until_deliveries(
        client,
        headers,
        workspace_id,
        webhook["id"],
        lambda items: len(items) == 1 and items[0]["status"] == "delivered",
    )
    assert items[0]["attempts"] == 3
    assert items[0]["last_status_code"] == 200
    assert [r.webhook_id for r in receiver.received] == [items[0]["event_id"]] * 3
    assert {r.json["data"]["id"] for r in receiver.received} == {conversation_id}
    for received in receiver.received:
        verify(webhook["secret"], received.headers, received.body)


async def test_after_the_last_attempt_it_fails_and_a_manual_retry_sends_it_again(
    make_client: ClientFactory, receiver: Receiver
) -> None:
    receiver.default = 503
    client = await make_client(webhooks=FAST_RETRIES)
    headers, workspace_id = await account(client)
    webhook = await add_webhook(client, headers, workspace_id, receiver.url)
    base = f"/api/workspaces/{workspace_id}/webhooks/{webhook['id']}"
    response = await client.post(base + "/test", headers=headers)
    assert response.status == 202
    test = await response.json()
    assert test["event_type"] == "webhook.test"
    assert test["status"] == "pending"
    items = await until_deliveries(
        client, headers, workspace_id, webhook["id"], lambda i: i[0]["status"] == "failed"
    )
    assert items[0]["attempts"] == 5  # 4 retries configured
    assert items[0]["last_status_code"] == 503
    assert "503" in items[0]["last_error"]
    assert len(receiver.received) == 5
    receiver.default = 204
    response = await client.post(f"{base}/deliveries/{test['id']}/retry", headers=headers)
    assert response.status == 202
    assert (await response.json())["status"] == "pending"
    items = await until_deliveries(
        client, headers, workspace_id, webhook["id"], lambda i: i[0]["status"] == "delivered"
    )
    assert items[0]["attempts"] == 6
    assert items[0]["last_status_code"] == 204
    assert {r.webhook_id for r in receiver.received} == {test["event_id"]}
    body = verify(webhook["secret"], receiver.received[-1].headers, receiver.received[-1].body)
    assert body["type"] == "webhook.test"


async def test_redirects_timeouts_and_refused_connections_count_as_failed_attempts(
    make_client: ClientFactory, receiver: Receiver
) -> None:
    settings: dict[str, Any] = {
        **FAST_RETRIES,
        "timeout_seconds": 0.5,
        "retry_delays_seconds": [30, 30, 30, 30],
    }
    client = await make_client(webhooks=settings)
    headers, workspace_id = await account(client)
    receiver.answers = [302]
    redirected = await add_webhook(client, headers, workspace_id, receiver.url + "?r")
    slow = Receiver()
    slow.held.clear()
    await slow.start()
    try:
        silent = await add_webhook(client, headers, workspace_id, slow.url)
        closed = await add_webhook(client, headers, workspace_id, "http://127.0.0.1:9/hook")
        for webhook in (redirected, silent, closed):
            path = f"/api/workspaces/{workspace_id}/webhooks/{webhook['id']}/test/"
            assert (await client.post(path, headers=headers)).status == 202
        outcomes = {}
        for name, webhook in (("redirect", redirected), ("slow", silent), ("closed", closed)):
            items = await until_deliveries(
                client, headers, workspace_id, webhook["id"], lambda i: i[0]["attempts"] == 1
            )
            outcomes[name] = items[0]
    finally:
        slow.held.set()
        await slow.close()
    assert all(item["status"] == "pending" for item in outcomes.values())
    assert outcomes["redirect"]["last_status_code"] == 302
    assert "redirect" in outcomes["redirect"]["last_error"]
    assert len(receiver.received) == 1  # the redirect was not followed
    assert outcomes["slow"]["last_status_code"] is None
    assert "no answer within 0.5 s" in outcomes["slow"]["last_error"]
    assert outcomes["closed"]["last_status_code"] is None
    assert "could not connect" in outcomes["closed"]["last_error"]


async def test_a_large_answer_is_read_only_up_to_the_cap(make_client: ClientFactory) -> None:
    class Chatty(Receiver):
        async def hook(self, request: Any) -> Any:
            from aiohttp import web

            await super().hook(request)
            response = web.StreamResponse(status=200)
            await response.prepare(request)
            for _ in range(10_000):  # 640 MiB if it were all read
                await response.write(b"x" * 65_536)
            return response

    chatty = Chatty()
    await chatty.start()
    try:
        client = await make_client(webhooks={**FAST_RETRIES, "max_response_bytes": 4096})
        headers, workspace_id = await account(client)
        webhook = await add_webhook(client, headers, workspace_id, chatty.url)
        path = f"/api/workspaces/{workspace_id}/webhooks/{webhook['id']}/test/"
        assert (await client.post(path, headers=headers)).status == 202
        items = await until_deliveries(
            client, headers, workspace_id, webhook["id"], lambda i: i[0]["attempts"] == 1
        )
    finally:
        await chatty.close()
    assert items[0]["status"] == "delivered"


async def test_an_endpoint_failing_for_longer_than_the_limit_is_disabled(
    make_client: ClientFactory, receiver: Receiver
) -> None:
    receiver.default = 500
    settings = {**FAST_RETRIES, "disable_after_seconds": 0.3, "retry_delays_seconds": [0.2] * 8}
    client = await make_client(webhooks=settings)
    headers, workspace_id = await account(client)
    chatbot = await echo_chatbot(client, headers)
    webhook = await add_webhook(client, headers, workspace_id, receiver.url)
    path = f"/api/workspaces/{workspace_id}/webhooks/{webhook['id']}/"
    assert (await client.post(path + "test/", headers=headers)).status == 202
    for _ in range(100):
        current = await (await client.get(path, headers=headers)).json()
        if not current["enabled"]:
            break
        await asyncio.sleep(0.1)
    assert current["enabled"] is False
    assert current["disabled_reason"].startswith("every delivery attempt failed since")
    assert current["failing_since"] is not None
    # Disabled: no new events are stored for it, and its waiting delivery is not sent.
    seen = len(receiver.received)
    await visitor_says(client, chatbot["slug"], ["hello"], answered=False)
    await asyncio.sleep(0.5)
    assert len(receiver.received) == seen
    items = await until_deliveries(client, headers, workspace_id, webhook["id"], bool)
    assert len(items) == 1
    assert items[0]["status"] == "pending"
    receiver.default = 200
    response = await client.patch(path, json={"enabled": True}, headers=headers)
    assert response.status == 200
    enabled = await response.json()
    assert enabled["enabled"] is True
    assert enabled["failing_since"] is None
    await until_deliveries(
        client, headers, workspace_id, webhook["id"], lambda i: i[0]["status"] == "delivered"
    )


async def test_a_private_url_allowed_once_is_refused_at_connection_time_when_not(
    make_client: ClientFactory, receiver: Receiver
) -> None:
    allowing = await make_client(webhooks=FAST_RETRIES)
    headers, workspace_id = await account(allowing)
    webhook = await add_webhook(allowing, headers, workspace_id, receiver.url)
    await allowing.close()
    client = await make_client(webhooks={**FAST_RETRIES, "allow_private_targets": False})
    path = f"/api/workspaces/{workspace_id}/webhooks/{webhook['id']}/test/"
    assert (await client.post(path, headers=headers)).status == 202
    items = await until_deliveries(
        client, headers, workspace_id, webhook["id"], lambda i: i[0]["attempts"] == 1
    )
    assert receiver.received == []
    assert "not a public internet address" in items[0]["last_error"]
