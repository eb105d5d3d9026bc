"""The visitor WebSocket, frame by frame, as the contract describes it."""

from __future__ import annotations

import pytest
from aiohttp import WSMsgType, WSServerHandshakeError
from chat_helpers import (
    create_chatbot,
    message_frame,
    next_frame,
    no_frame_within,
    register,
    send_message,
    visitor_path,
)

from conftest import AppClient, ClientFactory

pytestmark = pytest.mark.both_stacks


async def test_a_new_visitor_is_welcomed_then_greeted_as_seq_1(client: AppClient) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="Hello there!")

    async with client.ws_connect(visitor_path(chatbot["slug"])) as ws:
        welcome = await next_frame(ws)
        greeting = await next_frame(ws)

    assert welcome["type"] == "welcome"
    assert welcome["last_seq"] == 0
    assert welcome["chatbot"]["slug"] == chatbot["slug"]
    assert welcome["chatbot"]["name"] == "Support"
    assert welcome["chatbot"]["greeting"] == "Hello there!"
    assert isinstance(welcome["visitor_token"], str)
    assert len(welcome["visitor_token"]) >= 32
    assert greeting["type"] == "message"
    assert greeting["message"]["role"] == "bot"
    assert greeting["message"]["seq"] == 1
    assert greeting["message"]["text"] == "Hello there!"
    assert greeting["message"]["conversation_id"] == welcome["conversation_id"]


async def test_an_empty_greeting_means_no_greeting_message(client: AppClient) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")

    async with client.ws_connect(visitor_path(chatbot["slug"])) as ws:
        welcome = await next_frame(ws)
        await no_frame_within(ws, 0.3)

    assert welcome["last_seq"] == 0
    assert "greeting" not in welcome["chatbot"]


async def test_a_message_is_acknowledged_once_stored_then_the_bot_answers(
    client: AppClient,
) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="Hi")

    async with client.ws_connect(visitor_path(chatbot["slug"])) as ws:
        welcome = await next_frame(ws)
        client_id = await send_message(ws, "Where is my order?")
        frames = [await next_frame(ws) for _ in range(5)]

    greeting, ack, typing, token, answer = frames
    assert greeting["message"]["seq"] == 1
    assert ack["type"] == "message"
    assert ack["message"]["role"] == "visitor"
    assert ack["message"]["client_id"] == client_id
    assert ack["message"]["seq"] == 2
    assert ack["message"]["text"] == "Where is my order?"
    assert ack["message"]["conversation_id"] == welcome["conversation_id"]
    assert typing == {
        "type": "typing",
        "role": "bot",
        "conversation_id": welcome["conversation_id"],
    }
    assert token["type"] == "bot_token"
    assert token["delta"] == "Where is my order?"
    assert answer["message"]["role"] == "bot"
    assert answer["message"]["seq"] == 3
    assert answer["message"]["text"] == "Where is my order?"
    assert answer["message"]["client_id"] is None


async def test_a_repeated_client_id_answers_the_stored_message_and_stores_nothing(
    client: AppClient,
) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")

    async with client.ws_connect(visitor_path(chatbot["slug"])) as ws:
        welcome = await next_frame(ws)
        await send_message(ws, "once", "client-1")
        first = await message_frame(ws, "visitor")
        await message_frame(ws, "bot")
        await send_message(ws, "once (again)", "client-1")
        again = await next_frame(ws)
        await no_frame_within(ws, 0.3)

    assert again == first
    response = await client.get(
        f"/api/conversations/{welcome['conversation_id']}/messages/", headers=tenant.headers
    )
    items = (await response.json())["items"]
    assert [(item["role"], item["seq"]) for item in items] == [("visitor", 1), ("bot", 2)]


async def test_a_visitor_token_resumes_the_conversation_without_a_second_greeting(
    client: AppClient,
) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="Hi")
    async with client.ws_connect(visitor_path(chatbot["slug"])) as ws:
        welcome = await next_frame(ws)
        await send_message(ws, "first")
        await message_frame(ws, "bot", seq=3)

    token = welcome["visitor_token"]
    async with client.ws_connect(visitor_path(chatbot["slug"], token)) as ws:
        again = await next_frame(ws)
        await no_frame_within(ws, 0.3)
        await ws.send_json({"type": "resume", "after": 1})
        replayed = [await next_frame(ws) for _ in range(3)]

    assert again["conversation_id"] == welcome["conversation_id"]
    assert again["visitor_token"] == token
    assert again["last_seq"] == 3
    assert [frame["message"]["seq"] for frame in replayed[:2]] == [2, 3]
    assert replayed[2] == {"type": "resumed", "last_seq": 3}


async def test_a_visitor_token_offered_as_a_subprotocol_resumes_without_being_in_the_url(
    client: AppClient,
) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")
    async with client.ws_connect(visitor_path(chatbot["slug"]), protocols=["chatbot.v1"]) as ws:
        welcome = await next_frame(ws)
        selected_for_new = ws.protocol
        await send_message(ws, "first")
        await message_frame(ws, "bot")

    offered = ["chatbot.v1", f"chatbot.token.{welcome['visitor_token']}"]
    async with client.ws_connect(visitor_path(chatbot["slug"]), protocols=offered) as ws:
        again = await next_frame(ws)
        selected = ws.protocol

    assert (selected_for_new, selected) == ("chatbot.v1", "chatbot.v1")
    assert again["conversation_id"] == welcome["conversation_id"]
    assert again["last_seq"] == 2


async def test_resume_beyond_the_last_seq_replays_nothing_and_says_the_last_seq(
    client: AppClient,
) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="Hi")

    async with client.ws_connect(visitor_path(chatbot["slug"])) as ws:
        await next_frame(ws)
        await next_frame(ws)
        await ws.send_json({"type": "resume", "after": 50})
        resumed = await next_frame(ws)

    assert resumed == {"type": "resumed", "last_seq": 1}


@pytest.mark.parametrize("token", ["not-a-token", "x" * 300, ""])
async def test_an_unknown_visitor_token_starts_a_new_conversation(
    client: AppClient, token: str
) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="Hi")

    async with client.ws_connect(visitor_path(chatbot["slug"], token)) as ws:
        welcome = await next_frame(ws)
        greeting = await next_frame(ws)

    assert welcome["last_seq"] == 0
    assert welcome["visitor_token"] != token
    assert greeting["message"]["seq"] == 1


async def test_another_chatbots_visitor_token_starts_a_new_conversation(
    client: AppClient,
) -> None:
    tenant = await register(client)
    first = await create_chatbot(client, tenant, name="First")
    second = await create_chatbot(client, tenant, name="Second")
    async with client.ws_connect(visitor_path(first["slug"])) as ws:
        welcome = await next_frame(ws)

    async with client.ws_connect(visitor_path(second["slug"], welcome["visitor_token"])) as ws:
        other = await next_frame(ws)

    assert other["conversation_id"] != welcome["conversation_id"]


async def test_an_unknown_slug_is_a_json_404_before_the_upgrade(client: AppClient) -> None:
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect(visitor_path("no-such-bot"))
    assert refused.value.status == 404

    response = await client.get(visitor_path("no-such-bot"))
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "chatbot_not_found"


async def test_a_plain_http_request_to_the_socket_gets_a_json_400(client: AppClient) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant)

    response = await client.get(visitor_path(chatbot["slug"]))

    assert response.status == 400
    assert (await response.json())["error"]["code"] == "websocket_required"


async def test_an_origin_not_allowed_is_a_json_403_before_the_upgrade(client: AppClient) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, allowed_origins=["https://shop.example.com"])
    path = visitor_path(chatbot["slug"])

    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect(path, headers={"Origin": "https://evil.example.net"})
    assert refused.value.status == 403
    response = await client.get(path, headers={"Origin": "https://evil.example.net"})
    assert (await response.json())["error"]["code"] == "origin_not_allowed"

    async with client.ws_connect(path, headers={"Origin": "https://shop.example.com"}) as ws:
        assert (await next_frame(ws))["type"] == "welcome"
    async with client.ws_connect(path) as ws:  # no Origin: not a browser, not refused
        assert (await next_frame(ws))["type"] == "welcome"


async def test_the_servers_own_pages_may_connect_whatever_the_allowed_origins(
    client: AppClient,
) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, allowed_origins=["https://shop.example.com"])
    own_origin = f"http://{client.host}:{client.port}"

    async with client.ws_connect(
        visitor_path(chatbot["slug"]), headers={"Origin": own_origin}
    ) as ws:
        assert (await next_frame(ws))["type"] == "welcome"


async def test_any_origin_may_connect_when_the_chatbot_allows_all(client: AppClient) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, allowed_origins=[])

    async with client.ws_connect(
        visitor_path(chatbot["slug"]), headers={"Origin": "https://anywhere.example"}
    ) as ws:
        assert (await next_frame(ws))["type"] == "welcome"


async def test_connects_over_the_limit_get_a_json_429_before_the_upgrade(
    make_client: ClientFactory,
) -> None:
    client = await make_client(rate_limits={"ws_connect_per_address": "2/minute"})
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant)
    for _ in range(2):
        async with client.ws_connect(visitor_path(chatbot["slug"])) as ws:
            await next_frame(ws)

    response = await client.get(
        visitor_path(chatbot["slug"]),
        headers={"Connection": "Upgrade", "Upgrade": "websocket"},
    )

    assert response.status == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert (await response.json())["error"]["code"] == "rate_limited"


async def test_ping_is_answered_with_pong(client: AppClient) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")

    async with client.ws_connect(visitor_path(chatbot["slug"])) as ws:
        await next_frame(ws)
        await ws.send_json({"type": "ping"})
        assert await next_frame(ws) == {"type": "pong"}


async def test_a_binary_frame_is_invalid_and_the_socket_stays_open(client: AppClient) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")

    async with client.ws_connect(visitor_path(chatbot["slug"])) as ws:
        await next_frame(ws)
        await ws.send_bytes(b'{"type": "ping"}')
        error = await next_frame(ws)
        await ws.send_json({"type": "ping"})
        pong = await next_frame(ws)

    assert error["type"] == "error"
    assert error["code"] == "invalid_message"
    assert pong == {"type": "pong"}


async def test_a_frame_over_the_size_limit_closes_with_1009(make_client: ClientFactory) -> None:
    client = await make_client(chat={"max_frame_bytes": 2048})
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")

    async with client.ws_connect(visitor_path(chatbot["slug"])) as ws:
        await next_frame(ws)
        await send_message(ws, "x" * 3000)
        closed = await ws.receive(timeout=5)

    assert closed.type == WSMsgType.CLOSE
    assert ws.close_code == 1009


async def test_a_text_frame_that_is_not_utf8_closes_with_1007(client: AppClient) -> None:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")

    async with client.ws_connect(visitor_path(chatbot["slug"])) as ws:
        await next_frame(ws)
        await ws.send_frame(b'{"type": "message", "text": "\xff\xfe"}', WSMsgType.TEXT)
        closed = await ws.receive(timeout=5)

    assert closed.type == WSMsgType.CLOSE
    assert ws.close_code == 1007
