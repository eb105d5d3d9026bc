"""Delivery guarantees of one socket: seq order, no duplicates, gaps filled from the database."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import WSMsgType
from chat_helpers import (
    create_chatbot,
    frame_of_type,
    message_frame,
    new_conversation,
    next_frame,
    no_frame_within,
    register,
    send_message,
    visitor_path,
)

from chatbot import keys
from chatbot.chat.hub import Audience, Event
from chatbot.chat.protocol import message_frame as encode_message
from chatbot.chat.service import CHAT
from chatbot.chat.store import Write

from conftest import AppClient, ClientFactory

pytestmark = pytest.mark.both_stacks


async def test_a_message_after_a_gap_comes_after_the_missed_ones_read_from_the_database(
    client: AppClient,
) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")
    chat = client.app[CHAT]
    async with client.ws_connect(visitor_path(chatbot["slug"])) as ws:
        conversation_id = (await next_frame(ws))["conversation_id"]
        await new_conversation(client.app[keys.ENGINE], chatbot["id"], conversation_id)
        # Stored on "another instance" whose events never arrived here.
        missed = [
            await chat.store.append(Write(conversation_id, "operator", f"missed {n}", f"m{n}"))
            for n in range(2)
        ]
        latest = await chat.store.append(Write(conversation_id, "operator", "latest", "m2"))
        event = Event(encode_message(latest.message.as_json()), conversation_id, latest.message.seq)
        chat.hub.publish(event, tenant.id, Audience.EVERYONE)
        received = [(await next_frame(ws))["message"]["text"] for _ in range(3)]
        # The missed ones arriving late are not delivered twice.
        for stored in missed:
            late = Event(
                encode_message(stored.message.as_json()), conversation_id, stored.message.seq
            )
            chat.hub.publish(late, tenant.id, Audience.EVERYONE)
        await no_frame_within(ws, 0.3)

    assert received == ["missed 0", "missed 1", "latest"]


async def test_a_brain_without_a_good_answer_hands_the_conversation_to_a_person(
    make_client: ClientFactory,
) -> None:
    client = await make_client(brains={"semantic": False})
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="", brain={"type": "knowledge"})
    async with (
        client.ws_connect("/ws/chat/agent/", headers=tenant.headers) as agent,
        client.ws_connect(visitor_path(chatbot["slug"])) as visitor,
    ):
        await next_frame(agent)
        await next_frame(visitor)
        await send_message(visitor, "what is the meaning of life?")
        answer = await message_frame(visitor, "bot")
        status = await frame_of_type(visitor, "status")
        handed = await frame_of_type(agent, "conversation")
        while handed["conversation"]["status"] != "waiting_for_human":
            handed = await frame_of_type(agent, "conversation")
        await send_message(visitor, "hello?", "after-handoff")
        await message_frame(visitor, "visitor", client_id="after-handoff")
        conversation_id = answer["message"]["conversation_id"]
        await agent.send_json({"type": "release", "conversation_id": conversation_id})
        await frame_of_type(visitor, "status")
        await send_message(visitor, "what about now?", "after-release")
        await message_frame(visitor, "bot")
        # Answers come in the order of the questions, so any answer to "hello?" is stored by now.
        response = await client.get(
            f"/api/conversations/{conversation_id}/messages/", headers=tenant.headers
        )
        stored = [(m["role"], m["text"]) for m in (await response.json())["items"]]

    assert answer["message"]["text"]  # the fallback offering a person
    assert status["status"] == "waiting_for_human"
    assert handed["conversation"]["handed_off"] is True
    roles = [role for role, _ in stored]
    assert roles == ["visitor", "bot", "visitor", "visitor", "bot"], stored


async def test_per_message_compression_is_off_by_default(client: AppClient) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")

    async with client.ws_connect(visitor_path(chatbot["slug"]), compress=15) as ws:
        await next_frame(ws)
        assert not ws.compress


async def test_compression_can_be_turned_on(make_client: ClientFactory) -> None:
    client = await make_client(chat={"compression": True})
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")

    async with client.ws_connect(visitor_path(chatbot["slug"]), compress=15) as ws:
        await next_frame(ws)
        await send_message(ws, "squeeze me " * 20)
        answer = await message_frame(ws, "bot")
        assert ws.compress

    assert answer["message"]["text"] == ("squeeze me " * 20).strip()


async def test_heartbeats_close_a_socket_whose_client_stopped_answering(
    make_client: ClientFactory,
) -> None:
    client = await make_client(chat={"heartbeat_seconds": 0.3})
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")
    chat = client.app[CHAT]

    async with client.ws_connect(visitor_path(chatbot["slug"]), autoping=False) as ws:
        conversation_id = (await next_frame(ws))["conversation_id"]
        async with asyncio.timeout(5):
            while chat.hub.conversation_size(conversation_id):
                await asyncio.sleep(0.05)
        closing = await ws.receive(timeout=5)
        while closing.type == WSMsgType.PING:
            closing = await ws.receive(timeout=5)

    assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)


async def test_frames_of_every_size_class_reach_the_client_intact(
    make_client: ClientFactory,
) -> None:
    client = await make_client(chat={"max_text_length": 100_000, "max_frame_bytes": 300_000})
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")

    async with client.ws_connect(visitor_path(chatbot["slug"])) as ws:
        await next_frame(ws)
        for size in (10, 200, 70_000):
            text = "é" + "x" * size  # past 65,535 bytes the header takes a 64-bit length
            await send_message(ws, text, f"size-{size}")
            answer = await message_frame(ws, "bot")
            assert answer["message"]["text"] == text
