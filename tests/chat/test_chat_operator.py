"""The operator WebSocket: authentication, the tenant's live traffic, replies and takeover."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType, WSServerHandshakeError
from chat_helpers import (
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

from conftest import AppClient, ClientFactory

pytestmark = pytest.mark.both_stacks

AGENT = "/ws/chat/agent/"


@asynccontextmanager
async def operator_and_visitor(
    client: AppClient,
) -> AsyncIterator[tuple[ClientWebSocketResponse, ClientWebSocketResponse, str]]:
    """A new tenant's operator socket (past `auth_ok`) and a visitor of their chatbot (no
    greeting), with the visitor's conversation id."""
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")
    async with client.ws_connect(AGENT, headers=tenant.headers) as agent:
        await next_frame(agent)
        async with client.ws_connect(visitor_path(chatbot["slug"])) as visitor:
            conversation_id = (await next_frame(visitor))["conversation_id"]
            yield agent, visitor, conversation_id


async def first_message_answered(
    agent: ClientWebSocketResponse, visitor: ClientWebSocketResponse
) -> None:
    """The visitor's first message (which stores the conversation), answered by the echo bot;
    both sockets have read everything up to that answer."""
    await send_message(visitor, "hello")
    await message_frame(visitor, "bot")
    await message_frame(agent, "bot")


async def test_a_bearer_header_authenticates_and_auth_ok_names_the_user(
    client: AppClient,
) -> None:
    tenant = await register(client)

    async with client.ws_connect(AGENT, headers=tenant.headers) as ws:
        ok = await next_frame(ws)

    assert ok["type"] == "auth_ok"
    assert ok["user"]["id"] == tenant.id
    assert ok["user"]["email"] == tenant.user["email"]
    assert "password" not in str(ok)


async def test_a_first_auth_frame_authenticates(client: AppClient) -> None:
    tenant = await register(client)

    async with client.ws_connect(AGENT) as ws:
        await ws.send_json({"type": "auth", "token": tenant.access})
        ok = await next_frame(ws)

    assert ok["type"] == "auth_ok"
    assert ok["user"]["id"] == tenant.id


@pytest.mark.parametrize(
    "first_frame",
    [
        {"type": "auth", "token": "not-a-token"},
        {"type": "auth", "token": ""},
        {"type": "auth"},
        {"type": "takeover", "conversation_id": "x"},
        "not json",
    ],
)
async def test_a_bad_first_frame_closes_with_4001(client: AppClient, first_frame: object) -> None:
    async with client.ws_connect(AGENT) as ws:
        if isinstance(first_frame, str):
            await ws.send_str(first_frame)
        else:
            await ws.send_json(first_frame)
        closed = await ws.receive(timeout=5)

    assert closed.type == WSMsgType.CLOSE
    assert ws.close_code == 4001


async def test_a_bad_bearer_header_closes_with_4001(client: AppClient) -> None:
    async with client.ws_connect(AGENT, headers={"Authorization": "Bearer nope"}) as ws:
        closed = await ws.receive(timeout=5)

    assert closed.type == WSMsgType.CLOSE
    assert ws.close_code == 4001


async def test_no_auth_within_the_timeout_closes_with_4001(make_client: ClientFactory) -> None:
    client = await make_client(chat={"auth_timeout_seconds": 0.3})

    async with client.ws_connect(AGENT) as ws:
        closed = await ws.receive(timeout=5)

    assert closed.type == WSMsgType.CLOSE
    assert ws.close_code == 4001


async def test_a_foreign_origin_without_a_bearer_header_is_refused_before_the_upgrade(
    client: AppClient,
) -> None:
    tenant = await register(client)

    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect(AGENT, headers={"Origin": "https://evil.example.net"})
    assert refused.value.status == 403

    own = f"http://{client.host}:{client.port}"
    async with client.ws_connect(AGENT, headers={"Origin": own}) as ws:
        await ws.send_json({"type": "auth", "token": tenant.access})
        assert (await next_frame(ws))["type"] == "auth_ok"
    headers = {"Origin": "https://tool.example.net", **tenant.headers}
    async with client.ws_connect(AGENT, headers=headers) as ws:
        assert (await next_frame(ws))["type"] == "auth_ok"


async def test_the_operator_sees_the_conversation_start_and_every_message(
    client: AppClient,
) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="Hi")
    async with client.ws_connect(AGENT, headers=tenant.headers) as agent:
        await next_frame(agent)
        async with client.ws_connect(visitor_path(chatbot["slug"])) as visitor:
            welcome = await next_frame(visitor)
            await no_frame_within(agent, 0.2)  # not before its first visitor message
            await send_message(visitor, "hello", "c1")

            started = await frame_of_type(agent, "conversation")
            seen = await message_frame(agent, "visitor")
            token = await frame_of_type(agent, "bot_token")
            answer = await message_frame(agent, "bot")

    conversation_id = welcome["conversation_id"]
    assert started["conversation"]["id"] == conversation_id
    assert started["conversation"]["chatbot_id"] == chatbot["id"]
    assert started["conversation"]["status"] == "bot"
    assert started["conversation"]["started_at"]
    assert started["conversation"]["last_message_at"]
    assert seen["message"]["client_id"] == "c1"
    assert seen["message"]["conversation_id"] == conversation_id
    assert token["conversation_id"] == conversation_id
    assert token["delta"] == "hello"
    assert answer["message"]["seq"] == seen["message"]["seq"] + 1


async def test_operators_get_nothing_of_other_tenants_and_cannot_act_on_them(
    client: AppClient,
) -> None:
    owner, stranger = await register(client), await register(client)
    chatbot = await create_chatbot(client, owner, greeting="")
    async with client.ws_connect(AGENT, headers=stranger.headers) as spy:
        await next_frame(spy)
        async with client.ws_connect(visitor_path(chatbot["slug"])) as visitor:
            welcome = await next_frame(visitor)
            await send_message(visitor, "private")
            await message_frame(visitor, "bot")
            await no_frame_within(spy, 0.3)
            conversation_id = welcome["conversation_id"]
            errors = []
            for frame in (
                {
                    "type": "message",
                    "conversation_id": conversation_id,
                    "text": "hi",
                    "client_id": "x",
                },
                {"type": "takeover", "conversation_id": conversation_id},
                {"type": "release", "conversation_id": conversation_id},
                {"type": "typing", "conversation_id": conversation_id},
                {"type": "resume", "conversation_id": conversation_id, "after": 0},
                {"type": "takeover", "conversation_id": "does-not-exist"},
            ):
                await spy.send_json(frame)
                errors.append(await next_frame(spy))
            await no_frame_within(visitor, 0.3)

    assert [error["code"] for error in errors] == ["not_found"] * 6
    assert errors[0]["client_id"] == "x"


async def test_an_operator_reply_reaches_the_visitor_with_role_operator(
    client: AppClient,
) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")
    async with client.ws_connect(AGENT, headers=tenant.headers) as agent:
        await next_frame(agent)
        async with client.ws_connect(visitor_path(chatbot["slug"])) as visitor:
            welcome = await next_frame(visitor)
            await send_message(visitor, "help")
            await message_frame(visitor, "bot")
            await agent.send_json(
                {
                    "type": "message",
                    "conversation_id": welcome["conversation_id"],
                    "text": "I'm here",
                    "client_id": "op-1",
                }
            )
            received = await message_frame(visitor, "operator")
            echoed = await message_frame(agent, "operator")

    assert received["message"]["text"] == "I'm here"
    assert received["message"]["client_id"] == "op-1"
    assert received["message"]["seq"] == 3
    assert echoed == received


async def test_takeover_silences_the_bot_until_release(client: AppClient) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")
    async with client.ws_connect(AGENT, headers=tenant.headers) as agent:
        await next_frame(agent)
        async with client.ws_connect(visitor_path(chatbot["slug"])) as visitor:
            welcome = await next_frame(visitor)
            conversation_id = welcome["conversation_id"]
            await send_message(visitor, "first")
            await message_frame(visitor, "bot")

            await agent.send_json({"type": "takeover", "conversation_id": conversation_id})
            status = await frame_of_type(visitor, "status")
            taken = await frame_where(
                agent,
                lambda f: f["type"] == "conversation" and f["conversation"]["status"] == "human",
            )
            await send_message(visitor, "are you a person?", "q2")
            await message_frame(visitor, "visitor", client_id="q2")

            await agent.send_json({"type": "release", "conversation_id": conversation_id})
            released = await frame_of_type(visitor, "status")
            await send_message(visitor, "back to bot", "q3")
            answer = await message_frame(visitor, "bot")

    assert status["status"] == "human"
    assert taken["conversation"]["handed_off"] is True
    assert released["status"] == "bot"
    # A conversation's answers come in the order of its questions, so an (echo) answer to
    # "are you a person?", however late, would be the first bot message after the takeover.
    assert answer["message"]["text"] == "back to bot"


async def test_takeover_of_a_conversation_already_taken_answers_its_state(
    client: AppClient,
) -> None:
    async with operator_and_visitor(client) as (agent, visitor, conversation_id):
        await first_message_answered(agent, visitor)
        await agent.send_json({"type": "takeover", "conversation_id": conversation_id})
        await frame_of_type(agent, "conversation")
        await agent.send_json({"type": "takeover", "conversation_id": conversation_id})
        again = await frame_of_type(agent, "conversation")
        taken = await frame_of_type(visitor, "status")
        await agent.send_json({"type": "release", "conversation_id": conversation_id})
        # The second takeover changed nothing: the visitor's next status is the release.
        released = await frame_of_type(visitor, "status")

    assert again["conversation"]["status"] == "human"
    assert (taken["status"], released["status"]) == ("human", "bot")


async def test_typing_goes_both_ways(client: AppClient) -> None:
    async with operator_and_visitor(client) as (agent, visitor, conversation_id):
        await first_message_answered(agent, visitor)
        await visitor.send_json({"type": "typing"})
        from_visitor = await frame_of_type(agent, "typing")
        await agent.send_json({"type": "typing", "conversation_id": conversation_id})
        from_operator = await frame_of_type(visitor, "typing")

    assert from_visitor == {
        "type": "typing",
        "role": "visitor",
        "conversation_id": conversation_id,
    }
    assert from_operator["role"] == "operator"


async def test_handoff_asks_for_a_person_and_the_bot_stays_silent(client: AppClient) -> None:
    async with operator_and_visitor(client) as (agent, visitor, conversation_id):
        await visitor.send_json({"type": "handoff"})
        status = await next_frame(visitor)
        event = await frame_of_type(agent, "conversation")
        await send_message(visitor, "hello?", "q1")
        await message_frame(visitor, "visitor")
        await agent.send_json({"type": "release", "conversation_id": conversation_id})
        await frame_of_type(visitor, "status")
        await send_message(visitor, "and now?", "q2")
        # Answers come in the order of the questions: an (echo) answer to "hello?", however
        # late, would come first.
        answer = await message_frame(visitor, "bot")
        await visitor.send_json({"type": "handoff"})
        repeated = await frame_of_type(visitor, "status")

    assert status == {
        "type": "status",
        "status": "waiting_for_human",
        "conversation_id": conversation_id,
    }
    assert event["conversation"]["status"] == "waiting_for_human"
    assert event["conversation"]["handed_off"] is True
    assert answer["message"]["text"] == "and now?"
    assert repeated["status"] == "waiting_for_human"


async def test_closing_a_conversation_and_a_new_visitor_message_reopens_it(
    client: AppClient,
) -> None:
    async with operator_and_visitor(client) as (agent, visitor, conversation_id):
        await first_message_answered(agent, visitor)
        await agent.send_json({"type": "close", "conversation_id": conversation_id})
        closed = await frame_of_type(visitor, "status")
        await send_message(visitor, "one more thing")
        reopened = await frame_of_type(visitor, "status")
        answer = await message_frame(visitor, "bot")

    assert closed["status"] == "closed"
    assert reopened["status"] == "bot"
    assert answer["message"]["text"] == "one more thing"


async def test_an_operator_resume_replays_a_conversation(client: AppClient) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="Hi")
    async with client.ws_connect(visitor_path(chatbot["slug"])) as visitor:
        conversation_id = (await next_frame(visitor))["conversation_id"]
        await send_message(visitor, "question")
        await message_frame(visitor, "bot", seq=3)

    async with client.ws_connect(AGENT, headers=tenant.headers) as agent:
        await next_frame(agent)
        await agent.send_json({"type": "resume", "conversation_id": conversation_id, "after": 0})
        frames = [await next_frame(agent) for _ in range(4)]

    assert [frame["message"]["seq"] for frame in frames[:3]] == [1, 2, 3]
    assert frames[3] == {"type": "resumed", "last_seq": 3, "conversation_id": conversation_id}


async def test_malformed_operator_frames_get_invalid_message(client: AppClient) -> None:
    tenant = await register(client)

    async with client.ws_connect(AGENT, headers=tenant.headers) as agent:
        await next_frame(agent)
        codes = []
        for raw in (
            "nope",
            "[]",
            '{"type": "takeover"}',
            '{"type": "message", "conversation_id": "c", "text": "hi"}',
            '{"type": "wave", "conversation_id": "c"}',
            '{"type": "auth", "token": "again"}',
        ):
            await agent.send_str(raw)
            codes.append((await next_frame(agent))["code"])
        await agent.send_json({"type": "ping"})
        pong = await next_frame(agent)

    assert codes == ["invalid_message"] * 6
    assert pong == {"type": "pong"}


async def test_identify_is_stored_on_the_conversation(client: AppClient) -> None:
    from sqlalchemy import select

    from chatbot import keys
    from chatbot.storage.schema import conversations

    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")
    async with client.ws_connect(visitor_path(chatbot["slug"])) as visitor:
        conversation_id = (await next_frame(visitor))["conversation_id"]
        await visitor.send_json({"type": "identify", "data": {"email": "ada@example.com"}})
        await send_message(visitor, "after identify", "c1")
        await message_frame(visitor, "visitor")

    engine = client.app[keys.ENGINE]
    async with engine.connect() as connection:
        data = await connection.scalar(
            select(conversations.c.visitor_data).where(conversations.c.id == conversation_id)
        )
    assert data == {"email": "ada@example.com"}


async def test_two_operators_of_one_tenant_both_see_the_traffic(client: AppClient) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")
    async with (
        client.ws_connect(AGENT, headers=tenant.headers) as first,
        client.ws_connect(AGENT, headers=tenant.headers) as second,
        client.ws_connect(visitor_path(chatbot["slug"])) as visitor,
    ):
        await next_frame(first)
        await next_frame(second)
        await next_frame(visitor)
        await send_message(visitor, "anyone?", "c1")
        seen = await asyncio.gather(
            message_frame(first, "visitor"), message_frame(second, "visitor")
        )

    assert seen[0] == seen[1]
