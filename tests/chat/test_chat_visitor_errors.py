"""Bad input on the visitor socket: a clear error frame, the socket stays open, nothing lost."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chat_helpers import (
    create_chatbot,
    message_frame,
    next_frame,
    register,
    send_message,
    visitor_path,
)

from conftest import AppClient, ClientFactory, drop_postgres_database

pytestmark = pytest.mark.both_stacks

BAD_FRAMES: list[tuple[str, str | bytes]] = [
    ("not JSON", "hello"),
    ("truncated JSON", '{"type": "message", "text": '),
    ("a JSON array", '["message", "hi"]'),
    ("a JSON string", '"message"'),
    ("null", "null"),
    ("no type", '{"text": "hi", "client_id": "c1"}'),
    ("a type that is not a string", '{"type": 7}'),
    ("an unknown type", '{"type": "shout", "text": "hi"}'),
    ("a message without text", '{"type": "message", "client_id": "c1"}'),
    ("a message without client_id", '{"type": "message", "text": "hi"}'),
    ("a text that is a number", '{"type": "message", "text": 5, "client_id": "c1"}'),
    ("a client_id that is a number", '{"type": "message", "text": "hi", "client_id": 1}'),
    ("an empty client_id", '{"type": "message", "text": "hi", "client_id": ""}'),
    ("a client_id too long", json.dumps({"type": "message", "text": "hi", "client_id": "c" * 129})),
    ("a blank text", '{"type": "message", "text": "   \\n ", "client_id": "c1"}'),
    ("a NUL in the text", '{"type": "message", "text": "a\\u0000b", "client_id": "c1"}'),
    ("a lone surrogate", '{"type": "message", "text": "a\\ud800b", "client_id": "c1"}'),
    ("NaN", '{"type": "resume", "after": NaN}'),
    ("a resume without after", '{"type": "resume"}'),
    ("a negative after", '{"type": "resume", "after": -1}'),
    ("an after that is text", '{"type": "resume", "after": "3"}'),
    ("an after that is true", '{"type": "resume", "after": true}'),
    ("a huge after", '{"type": "resume", "after": 1e400}'),
    ("identify without data", '{"type": "identify"}'),
    ("identify with a list", '{"type": "identify", "data": [1, 2]}'),
    ("identify too big", json.dumps({"type": "identify", "data": {"x": "y" * 9000}})),
    ("deep nesting", "[" * 30_000 + "]" * 30_000),
]


@pytest.mark.parametrize(("case", "raw"), BAD_FRAMES, ids=[case for case, _ in BAD_FRAMES])
async def test_a_malformed_frame_gets_invalid_message_and_the_socket_stays_open(
    client: AppClient, case: str, raw: str
) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")

    async with client.ws_connect(visitor_path(chatbot["slug"])) as ws:
        welcome = await next_frame(ws)
        await ws.send_str(raw)
        error = await next_frame(ws)
        await send_message(ws, "still here", "after-error")
        ack = await message_frame(ws, "visitor")

    assert error["type"] == "error", case
    assert error["code"] == "invalid_message", case
    assert error["message"], case
    assert ack["message"]["client_id"] == "after-error"
    assert ack["message"]["seq"] == 1
    assert ack["message"]["conversation_id"] == welcome["conversation_id"]


async def test_an_error_about_a_message_names_its_client_id(client: AppClient) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")

    async with client.ws_connect(visitor_path(chatbot["slug"])) as ws:
        await next_frame(ws)
        await ws.send_json({"type": "message", "text": 3, "client_id": "mine"})
        error = await next_frame(ws)

    assert error["client_id"] == "mine"
    assert "text" in error["message"]


async def test_a_text_over_the_limit_gets_text_too_long_and_is_not_stored(
    make_client: ClientFactory,
) -> None:
    client = await make_client(chat={"max_text_length": 50})
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")

    async with client.ws_connect(visitor_path(chatbot["slug"])) as ws:
        welcome = await next_frame(ws)
        await send_message(ws, "x" * 51, "long")
        error = await next_frame(ws)
        await send_message(ws, "x" * 50, "just-right")
        ack = await message_frame(ws, "visitor")

    assert error["code"] == "text_too_long"
    assert error["client_id"] == "long"
    assert ack["message"]["seq"] == 1
    messages = await client.get(
        f"/api/conversations/{welcome['conversation_id']}/messages/", headers=tenant.headers
    )
    assert "long" not in [item["client_id"] for item in (await messages.json())["items"]]


async def test_the_default_text_limit_is_4000_characters(client: AppClient) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")

    async with client.ws_connect(visitor_path(chatbot["slug"])) as ws:
        await next_frame(ws)
        await send_message(ws, "y" * 4000, "max")
        ack = await message_frame(ws, "visitor")
        await send_message(ws, "y" * 4001, "over")
        error = await next_frame(ws, timeout=5)
        while error["type"] != "error":
            error = await next_frame(ws)

    assert len(ack["message"]["text"]) == 4000
    assert error["code"] == "text_too_long"


async def test_messages_over_the_rate_limit_get_rate_limited_with_retry_after(
    make_client: ClientFactory,
) -> None:
    client = await make_client(rate_limits={"visitor_messages": "3/minute"})
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")

    async with client.ws_connect(visitor_path(chatbot["slug"])) as ws:
        welcome = await next_frame(ws)
        for index in range(3):
            await send_message(ws, f"m{index}", f"c{index}")
            await message_frame(ws, "visitor", client_id=f"c{index}")
        await send_message(ws, "one too many", "c3")
        error = await frame_of_type_error(ws)

    assert error["code"] == "rate_limited"
    assert error["client_id"] == "c3"
    assert 1 <= error["retry_after"] <= 60
    messages = await client.get(
        f"/api/conversations/{welcome['conversation_id']}/messages/", headers=tenant.headers
    )
    stored = [item["client_id"] for item in (await messages.json())["items"]]
    assert "c3" not in stored
    assert {"c0", "c1", "c2"} <= set(stored)


async def frame_of_type_error(ws: Any) -> dict[str, Any]:
    while True:
        frame = await next_frame(ws)
        if frame["type"] == "error":
            return frame


async def test_the_default_limits_allow_60_messages_a_minute(client: AppClient) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")

    async with client.ws_connect(visitor_path(chatbot["slug"])) as ws:
        await next_frame(ws)
        for index in range(60):
            await send_message(ws, f"m{index}", f"c{index}")
        seqs = []
        while len(seqs) < 60:
            frame = await next_frame(ws)
            assert frame["type"] != "error", frame
            if frame["type"] == "message" and frame["message"]["role"] == "visitor":
                seqs.append(frame["message"]["client_id"])

    assert seqs == [f"c{index}" for index in range(60)]


async def test_with_the_database_down_a_message_gets_unavailable_and_the_socket_stays_open(
    make_client: ClientFactory, postgres_url: str
) -> None:
    client = await make_client(database_url=postgres_url)
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")

    async with client.ws_connect(visitor_path(chatbot["slug"])) as ws:
        await next_frame(ws)
        await drop_postgres_database(postgres_url)
        await send_message(ws, "lost?", "c1")
        error = await next_frame(ws, timeout=15)
        await ws.send_json({"type": "ping"})
        pong = await next_frame(ws)

    assert error["type"] == "error"
    assert error["code"] == "unavailable"
    assert error["client_id"] == "c1"
    assert pong == {"type": "pong"}
