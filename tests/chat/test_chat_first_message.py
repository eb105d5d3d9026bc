"""A visitor's conversation is stored at its first visitor message, not when the socket opens.

Every test runs twice: on SQLite with the in-process backends, and on PostgreSQL with Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse
from chat_helpers import (
    Frame,
    Tenant,
    create_chatbot,
    frame_of_type,
    frame_where,
    message_frame,
    next_frame,
    no_frame_within,
    register,
    send_message,
    visitor_path,
)
from sqlalchemy import func, select

from chatbot import keys
from chatbot.storage.schema import conversations, messages

from conftest import AppClient, ClientFactory, create_postgres_database, drop_postgres_database

AGENT = "/ws/chat/agent/"


@pytest.fixture(params=["sqlite+memory", "postgres+redis"])
async def client(
    request: pytest.FixtureRequest, make_client: ClientFactory, redis_url: str
) -> AsyncIterator[AppClient]:
    """The app on SQLite with in-process backends, or on PostgreSQL with Redis."""
    if request.param == "sqlite+memory":
        yield await make_client()
        return
    database_url = await create_postgres_database()
    try:
        yield await make_client(database_url=database_url, redis_url=redis_url)
    finally:
        await drop_postgres_database(database_url)


async def row_counts(client: AppClient) -> tuple[int, int]:
    """(conversations, messages) stored in the app's database."""
    async with client.app[keys.ENGINE].connect() as connection:
        stored = await connection.scalar(select(func.count()).select_from(conversations))
        written = await connection.scalar(select(func.count()).select_from(messages))
    return int(stored or 0), int(written or 0)


async def stored_messages(client: AppClient, conversation_id: str) -> list[dict[str, Any]]:
    """The conversation's messages as the REST API shows them, in seq order."""
    engine = client.app[keys.ENGINE]
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(messages.c.id, messages.c.seq, messages.c.role)
            .where(messages.c.conversation_id == conversation_id)
            .order_by(messages.c.seq)
        )
        return [{"id": row.id, "seq": row.seq, "role": row.role} for row in rows]


async def visitor_data(client: AppClient, conversation_id: str) -> Any:
    async with client.app[keys.ENGINE].connect() as connection:
        return await connection.scalar(
            select(conversations.c.visitor_data).where(conversations.c.id == conversation_id)
        )


async def new_chatbot(client: AppClient, greeting: str = "Hello!") -> tuple[Tenant, dict[str, Any]]:
    tenant = await register(client)
    return tenant, await create_chatbot(client, tenant, greeting=greeting)


@asynccontextmanager
async def operator(client: AppClient, tenant: Tenant) -> AsyncIterator[ClientWebSocketResponse]:
    async with client.ws_connect(AGENT, headers=tenant.headers) as agent:
        assert (await next_frame(agent))["type"] == "auth_ok"
        yield agent


async def welcomed(
    client: AppClient, slug: str, stack: AsyncExitStack, token: str | None = None
) -> tuple[ClientWebSocketResponse, Frame]:
    ws = await stack.enter_async_context(client.ws_connect(visitor_path(slug, token)))
    welcome = await next_frame(ws)
    assert welcome["type"] == "welcome"
    return ws, welcome


def seqs(frames: Sequence[Frame]) -> list[int]:
    return sorted(frame["message"]["seq"] for frame in frames)


async def test_sockets_that_never_send_a_message_leave_no_rows(client: AppClient) -> None:
    tenant, chatbot = await new_chatbot(client)
    async with AsyncExitStack() as stack:
        sockets = [(await welcomed(client, chatbot["slug"], stack))[0] for _ in range(50)]
        for ws in sockets:
            assert (await message_frame(ws, "bot"))["message"]["seq"] == 1
            # What a widget sends on every connect stores nothing either.
            await ws.send_json({"type": "resume", "after": 0})
            await ws.send_json({"type": "identify", "data": {"page": "/pricing"}})
            await ws.send_json({"type": "typing"})
        for ws in sockets:
            assert (await frame_of_type(ws, "resumed"))["last_seq"] == 1

        assert await row_counts(client) == (0, 0)

    listed = await client.get(
        f"/api/chatbots/{chatbot['id']}/conversations/", headers=tenant.headers
    )
    assert (await listed.json())["items"] == []


async def test_the_first_message_stores_the_conversation_greeting_and_message_as_seen(
    client: AppClient,
) -> None:
    tenant, chatbot = await new_chatbot(client)
    async with AsyncExitStack() as stack:
        ws, welcome = await welcomed(client, chatbot["slug"], stack)
        greeting = (await message_frame(ws, "bot"))["message"]
        await send_message(ws, "Do you ship abroad?")
        ack = (await message_frame(ws, "visitor"))["message"]

    assert welcome["last_seq"] == 0
    assert (greeting["seq"], ack["seq"]) == (1, 2)
    conversation_id = welcome["conversation_id"]
    response = await client.get(
        f"/api/conversations/{conversation_id}/messages/", headers=tenant.headers
    )
    shown = (await response.json())["items"][:2]
    assert shown == [greeting, ack]
    listed = await client.get(
        f"/api/chatbots/{chatbot['id']}/conversations/", headers=tenant.headers
    )
    [conversation] = (await listed.json())["items"]
    assert conversation["id"] == conversation_id
    assert conversation["started_at"] == greeting["created_at"]


async def test_operators_get_the_conversation_event_then_the_first_message(
    client: AppClient,
) -> None:
    tenant, chatbot = await new_chatbot(client)
    async with operator(client, tenant) as agent, AsyncExitStack() as stack:
        ws, welcome = await welcomed(client, chatbot["slug"], stack)
        await message_frame(ws, "bot")
        await no_frame_within(agent, 0.3)  # an open socket alone is no conversation
        await send_message(ws, "Anyone there?")
        event = await next_frame(agent)
        message = await next_frame(agent)

    assert event["type"] == "conversation"
    assert event["conversation"]["id"] == welcome["conversation_id"]
    assert event["conversation"]["status"] == "bot"
    assert event["conversation"]["last_message"]["seq"] == 2
    assert message["type"] == "message"
    assert message["message"]["seq"] == 2
    assert message["message"]["text"] == "Anyone there?"


async def test_a_reload_before_the_first_message_keeps_the_conversation_and_its_greeting(
    client: AppClient,
) -> None:
    _, chatbot = await new_chatbot(client)
    async with AsyncExitStack() as stack:
        first, welcome = await welcomed(client, chatbot["slug"], stack)
        greeting = (await message_frame(first, "bot"))["message"]
        await first.close()

        again, resumed_welcome = await welcomed(
            client, chatbot["slug"], stack, welcome["visitor_token"]
        )
        await no_frame_within(again, 0.3)  # no second greeting
        await again.send_json({"type": "resume", "after": 0})
        replayed = (await message_frame(again, "bot"))["message"]
        resumed = await frame_of_type(again, "resumed")
        assert await row_counts(client) == (0, 0)
        await send_message(again, "Still here")
        ack = (await message_frame(again, "visitor"))["message"]

    assert resumed_welcome["conversation_id"] == welcome["conversation_id"]
    assert resumed_welcome["visitor_token"] == welcome["visitor_token"]
    assert resumed_welcome["last_seq"] == 1
    assert replayed == greeting
    assert resumed["last_seq"] == 1
    assert ack["seq"] == 2
    stored = await stored_messages(client, welcome["conversation_id"])
    assert stored[:2] == [
        {"id": greeting["id"], "seq": 1, "role": "bot"},
        {"id": ack["id"], "seq": 2, "role": "visitor"},
    ]


async def test_a_reload_after_the_first_message_resumes_the_stored_conversation(
    client: AppClient,
) -> None:
    _, chatbot = await new_chatbot(client, greeting="")
    async with AsyncExitStack() as stack:
        first, welcome = await welcomed(client, chatbot["slug"], stack)
        await send_message(first, "Hello")
        await message_frame(first, "bot")  # the echo, seq 2
        await first.close()
        _, resumed_welcome = await welcomed(
            client, chatbot["slug"], stack, welcome["visitor_token"]
        )

    assert resumed_welcome["conversation_id"] == welcome["conversation_id"]
    assert resumed_welcome["last_seq"] == 2
    assert await row_counts(client) == (1, 2)


async def test_a_resume_before_the_first_message_without_a_greeting_says_last_seq_0(
    client: AppClient,
) -> None:
    _, chatbot = await new_chatbot(client, greeting="")
    async with AsyncExitStack() as stack:
        _, welcome = await welcomed(client, chatbot["slug"], stack)
        again, resumed_welcome = await welcomed(
            client, chatbot["slug"], stack, welcome["visitor_token"]
        )
        await again.send_json({"type": "resume", "after": 0})
        resumed = await next_frame(again)

    assert resumed_welcome["last_seq"] == 0
    assert resumed == {"type": "resumed", "last_seq": 0}


async def test_two_sockets_of_one_visitor_sending_first_at_once_make_one_conversation(
    client: AppClient,
) -> None:
    _, chatbot = await new_chatbot(client)
    async with AsyncExitStack() as stack:
        one, welcome = await welcomed(client, chatbot["slug"], stack)
        two, _ = await welcomed(client, chatbot["slug"], stack, welcome["visitor_token"])
        await asyncio.gather(send_message(one, "from one"), send_message(two, "from two"))
        # Each socket gets its own message and the other's, after the greeting.
        seen = [[await message_frame(ws, "visitor") for _ in range(2)] for ws in (one, two)]

    for frames in seen:
        assert seqs(frames) == [2, 3]
        assert {frame["message"]["text"] for frame in frames} == {"from one", "from two"}
    stored = await stored_messages(client, welcome["conversation_id"])
    assert [m["role"] for m in stored if m["seq"] <= 3] == ["bot", "visitor", "visitor"]
    assert (await row_counts(client))[0] == 1


async def test_the_same_first_message_sent_on_two_sockets_at_once_is_stored_once(
    client: AppClient,
) -> None:
    _, chatbot = await new_chatbot(client, greeting="")
    async with AsyncExitStack() as stack:
        one, welcome = await welcomed(client, chatbot["slug"], stack)
        two, _ = await welcomed(client, chatbot["slug"], stack, welcome["visitor_token"])
        await asyncio.gather(send_message(one, "once", "c-1"), send_message(two, "once", "c-1"))
        acks = [(await message_frame(ws, "visitor"))["message"] for ws in (one, two)]

    assert acks[0] == acks[1]
    assert acks[0]["seq"] == 1
    stored = await stored_messages(client, welcome["conversation_id"])
    assert [m["role"] for m in stored].count("visitor") == 1


async def test_a_handoff_as_the_first_frame_stores_a_waiting_conversation(
    client: AppClient,
) -> None:
    tenant, chatbot = await new_chatbot(client)
    async with operator(client, tenant) as agent, AsyncExitStack() as stack:
        ws, welcome = await welcomed(client, chatbot["slug"], stack)
        greeting = (await message_frame(ws, "bot"))["message"]
        await ws.send_json({"type": "handoff"})
        status = await frame_of_type(ws, "status")
        event = await frame_of_type(agent, "conversation")

    assert status["status"] == "waiting_for_human"
    assert event["conversation"]["id"] == welcome["conversation_id"]
    assert event["conversation"]["status"] == "waiting_for_human"
    assert await stored_messages(client, welcome["conversation_id"]) == [
        {"id": greeting["id"], "seq": 1, "role": "bot"}
    ]


async def test_identify_before_the_first_message_is_stored_with_the_conversation(
    client: AppClient,
) -> None:
    _, chatbot = await new_chatbot(client, greeting="")
    async with AsyncExitStack() as stack:
        ws, welcome = await welcomed(client, chatbot["slug"], stack)
        await ws.send_json({"type": "identify", "data": {"email": "ada@example.com"}})
        await send_message(ws, "Hi")
        await message_frame(ws, "visitor")

    assert await visitor_data(client, welcome["conversation_id"]) == {"email": "ada@example.com"}


async def test_identify_after_another_socket_stored_the_conversation_is_stored_at_once(
    client: AppClient,
) -> None:
    _, chatbot = await new_chatbot(client, greeting="")
    async with AsyncExitStack() as stack:
        one, welcome = await welcomed(client, chatbot["slug"], stack)
        two, _ = await welcomed(client, chatbot["slug"], stack, welcome["visitor_token"])
        await send_message(one, "Hi")
        await message_frame(one, "visitor")
        await two.send_json({"type": "identify", "data": {"plan": "pro"}})
        await two.send_json({"type": "ping"})
        await frame_of_type(two, "pong")  # frames are handled in order: identify is done

        assert await visitor_data(client, welcome["conversation_id"]) == {"plan": "pro"}


async def test_a_tampered_visitor_token_starts_a_new_conversation(client: AppClient) -> None:
    _, chatbot = await new_chatbot(client, greeting="")
    async with AsyncExitStack() as stack:
        _, welcome = await welcomed(client, chatbot["slug"], stack)
        token = welcome["visitor_token"]
        tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        _, other = await welcomed(client, chatbot["slug"], stack, tampered)

    assert other["conversation_id"] != welcome["conversation_id"]
    assert other["visitor_token"] != tampered


async def test_the_bot_answers_the_first_message_with_the_greeting_before_it(
    client: AppClient,
) -> None:
    _, chatbot = await new_chatbot(client)
    async with AsyncExitStack() as stack:
        ws, _ = await welcomed(client, chatbot["slug"], stack)
        await message_frame(ws, "bot")
        await send_message(ws, "echo me")
        answer = await frame_where(
            ws, lambda f: f.get("type") == "message" and f["message"]["seq"] == 3
        )

    assert answer["message"]["role"] == "bot"
    assert answer["message"]["text"] == "echo me"


async def test_first_messages_on_two_instances_at_once_make_one_conversation(
    make_client: ClientFactory, postgres_url: str, redis_url: str
) -> None:
    one = await make_client(database_url=postgres_url, redis_url=redis_url)
    two = await make_client(database_url=postgres_url, redis_url=redis_url)
    _, chatbot = await new_chatbot(one)
    async with AsyncExitStack() as stack:
        first, welcome = await welcomed(one, chatbot["slug"], stack)
        second, again = await welcomed(two, chatbot["slug"], stack, welcome["visitor_token"])
        await asyncio.gather(send_message(first, "on one"), send_message(second, "on two"))
        acks = [
            await message_frame(first, "visitor", text="on one"),
            await message_frame(second, "visitor", text="on two"),
        ]

    assert again["conversation_id"] == welcome["conversation_id"]
    assert seqs(acks) == [2, 3]
    stored = await stored_messages(one, welcome["conversation_id"])
    assert [m["role"] for m in stored if m["seq"] <= 3] == ["bot", "visitor", "visitor"]
    assert (await row_counts(one))[0] == 1
