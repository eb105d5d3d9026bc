"""An operator socket lives no longer than its access token and its account's session."""

from __future__ import annotations

import time

from aiohttp import ClientWebSocketResponse, WSMsgType
from api_support import PASSWORD
from chat_helpers import Tenant, frame_of_type, register

from chatbot import keys
from chatbot.auth.tokens import TokenCodec
from chatbot.storage.values import new_id

from conftest import AppClient, ClientFactory

AGENT = "/ws/chat/agent/"
NEW_PASSWORD = "another horse battery staple"


async def _closed_with(agent: ClientWebSocketResponse, timeout: float) -> int:
    """The code of the server's close frame; fails if a frame, or nothing, comes instead."""
    message = await agent.receive(timeout=timeout)
    assert message.type is WSMsgType.CLOSE, message
    code: int = message.data
    return code


async def _change_password(client: AppClient, tenant: Tenant) -> None:
    response = await client.post(
        "/auth/password/",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=tenant.headers,
    )
    assert response.status == 200, await response.text()


async def test_an_operator_socket_closes_with_4001_when_its_token_expires(
    client: AppClient,
) -> None:
    tenant = await register(client)
    settings = client.app[keys.SETTINGS]
    # The setting's shortest lifetime is 30 s: a token of 2 s is minted directly instead.
    short_lived = TokenCodec(
        settings.secret_key.get_secret_value(),
        issuer=settings.auth.issuer,
        audience=settings.auth.audience,
        access_ttl_seconds=2,
        refresh_ttl_seconds=60,
    ).issue_access(tenant.id, 0, new_id())

    bearer = {"Authorization": f"Bearer {short_lived}"}
    async with client.ws_connect(AGENT, headers=bearer) as agent:
        await frame_of_type(agent, "auth_ok")
        code = await _closed_with(agent, timeout=15)

    assert code == 4001


async def test_a_password_change_closes_the_account_s_operator_sockets_at_once(
    client: AppClient,
) -> None:
    tenant, bystander = await register(client), await register(client)

    async with (
        client.ws_connect(AGENT, headers=tenant.headers) as agent,
        client.ws_connect(AGENT, headers=bystander.headers) as other,
    ):
        await frame_of_type(agent, "auth_ok")
        await frame_of_type(other, "auth_ok")
        await _change_password(client, tenant)
        started = time.monotonic()
        code = await _closed_with(agent, timeout=5)
        # The contract says "within seconds"; the push takes milliseconds, so a second is
        # already generous on a loaded machine.
        assert time.monotonic() - started < 1.0
        await other.send_json({"type": "ping"})
        pong = await frame_of_type(other, "pong")

    assert code == 4001
    assert pong == {"type": "pong"}


async def test_a_password_change_closes_the_operator_sockets_on_another_instance(
    make_client: ClientFactory, postgres_url: str, redis_url: str
) -> None:
    one = await make_client(database_url=postgres_url, redis_url=redis_url)
    two = await make_client(database_url=postgres_url, redis_url=redis_url)
    tenant = await register(one)

    async with two.ws_connect(AGENT, headers=tenant.headers) as agent:
        await frame_of_type(agent, "auth_ok")
        await _change_password(one, tenant)
        started = time.monotonic()
        code = await _closed_with(agent, timeout=5)
        assert time.monotonic() - started < 1.0  # as above: pushed through Redis at once

    assert code == 4001
