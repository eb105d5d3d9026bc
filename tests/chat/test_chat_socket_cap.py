"""A cap on the sockets one client address holds open at once, of both kinds together."""

from __future__ import annotations

import base64
import os
from contextlib import AsyncExitStack
from typing import Any

from aiohttp import WSServerHandshakeError
from chat_helpers import create_chatbot, frame_of_type, next_frame, register, visitor_path

from chatbot.chat.service import CHAT

from conftest import AppClient, ClientFactory
from support import until

AGENT = "/ws/chat/agent/"
CAP = 3


def _upgrade_headers() -> dict[str, str]:
    key = base64.b64encode(os.urandom(16)).decode()
    return {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": key,
        "Sec-WebSocket-Version": "13",
    }


async def _refusal(client: AppClient, path: str) -> tuple[int, str | None, dict[str, Any]]:
    response = await client.get(path, headers=_upgrade_headers())
    return response.status, response.headers.get("Retry-After"), await response.json()


async def test_past_the_cap_an_address_is_refused_until_one_of_its_sockets_closes(
    make_client: ClientFactory,
) -> None:
    client = await make_client(chat={"max_sockets_per_address": CAP})
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")
    path = visitor_path(chatbot["slug"])

    async with AsyncExitStack() as sockets:
        agent = await sockets.enter_async_context(client.ws_connect(AGENT, headers=tenant.headers))
        await frame_of_type(agent, "auth_ok")
        for _ in range(CAP - 1):
            await next_frame(await sockets.enter_async_context(client.ws_connect(path)))
        status, retry_after, body = await _refusal(client, path)
        try:
            await client.ws_connect(AGENT, headers=tenant.headers)
            raise AssertionError("an operator socket past the cap was accepted")
        except WSServerHandshakeError as refused:
            operator_status = refused.status
        await agent.close()
        # The slot is released once the server has finished closing the socket.
        cap = client.app[CHAT].socket_cap
        await until(lambda: cap.open_for("127.0.0.1") < CAP, timeout=10)
        async with client.ws_connect(path) as again:
            welcome = await next_frame(again)

    assert (status, operator_status) == (429, 429)
    assert body["error"]["code"] == "too_many_sockets"
    assert int(retry_after or 0) > 0
    assert welcome["type"] == "welcome"


async def test_a_socket_refused_before_its_welcome_leaves_no_slot_held(
    make_client: ClientFactory,
) -> None:
    client = await make_client(chat={"max_sockets_per_address": 1})

    for _ in range(3):  # a refused operator socket (a bad token) gives its slot back each time
        async with client.ws_connect(AGENT, headers={"Authorization": "Bearer nonsense"}) as ws:
            await ws.receive()
    tenant = await register(client)
    async with client.ws_connect(AGENT, headers=tenant.headers) as agent:
        ok = await frame_of_type(agent, "auth_ok")

    assert ok["user"]["id"] == tenant.id
