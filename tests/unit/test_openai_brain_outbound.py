"""The openai brain calls only public addresses, and never follows a provider's redirect."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from chatbot import keys
from chatbot.brains import BrainRequest
from chatbot.brains.openai import OpenAIBrain
from chatbot.http.outbound import guarded_connector

from conftest import ClientFactory

FALLBACK = "A person will help you."
ANSWER = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Inside."}}]}

ServerFactory = Callable[..., Awaitable[TestServer]]


class LocalService:
    """A server on this machine: answers completions, or redirects them to another path."""

    def __init__(self, redirect_status: int | None = None) -> None:
        self.redirect_status = redirect_status
        self.hits = {"completions": 0, "internal": 0}

    async def completions(self, request: web.Request) -> web.Response:
        self.hits["completions"] += 1
        if self.redirect_status is not None:
            location = "/internal/v1/chat/completions"
            return web.Response(status=self.redirect_status, headers={"Location": location})
        return web.json_response(ANSWER)

    async def internal(self, request: web.Request) -> web.Response:
        self.hits["internal"] += 1
        return web.json_response(ANSWER)


async def serve(aiohttp_server: ServerFactory, service: LocalService) -> str:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", service.completions)
    app.router.add_route("*", "/internal/v1/chat/completions", service.internal)
    server = await aiohttp_server(app)
    return str(server.make_url("/v1"))


BrainFactory = Callable[[bool], OpenAIBrain]


@pytest.fixture
async def brain_with() -> AsyncIterator[BrainFactory]:
    """Makes brains whose HTTP client guards outbound addresses (or allows private ones)."""
    sessions: list[aiohttp.ClientSession] = []

    def make(allow_private: bool) -> OpenAIBrain:
        http = aiohttp.ClientSession(connector=guarded_connector(allow_private))
        sessions.append(http)
        return OpenAIBrain(http, fallback_message=FALLBACK, timeout_seconds=5.0)

    yield make
    for http in sessions:
        await http.close()


def ask(base_url: str) -> BrainRequest:
    config = {"type": "openai", "base_url": base_url, "model": "m"}
    return BrainRequest(chatbot_name="Acme help", question="Hi!", config=config)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_local_provider_is_refused_at_connection_time(
    aiohttp_server: ServerFactory, brain_with: BrainFactory, host: str
) -> None:
    service = LocalService()
    base_url = (await serve(aiohttp_server, service)).replace("127.0.0.1", host)

    reply = brain_with(False).reply(ask(base_url))

    assert await reply.collect() == FALLBACK
    assert reply.handoff
    assert reply.verdict.reason == "connection_error"
    assert service.hits == {"completions": 0, "internal": 0}


async def test_the_setting_lets_a_local_provider_answer(
    aiohttp_server: ServerFactory, brain_with: BrainFactory
) -> None:
    service = LocalService()
    reply = brain_with(True).reply(ask(await serve(aiohttp_server, service)))

    assert await reply.collect() == "Inside."
    assert not reply.handoff


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_from_the_provider_is_not_followed(
    aiohttp_server: ServerFactory,
    brain_with: BrainFactory,
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    service = LocalService(redirect_status=status)
    reply = brain_with(True).reply(ask(await serve(aiohttp_server, service)))

    assert await reply.collect() == FALLBACK
    assert reply.handoff
    assert reply.verdict.reason == "redirect"
    assert service.hits == {"completions": 1, "internal": 0}
    assert f"HTTP {status} to '/internal/v1/chat/completions'" in caplog.text
    assert "redirects are not followed" in caplog.text


async def test_the_apps_http_client_refuses_local_addresses(
    make_client: ClientFactory, aiohttp_server: ServerFactory
) -> None:
    service = LocalService()
    url = await serve(aiohttp_server, service) + "/chat/completions"
    guarded = await make_client()
    allowing = await make_client(brains={"allow_private_base_urls": True})

    with pytest.raises(aiohttp.ClientConnectionError, match="not a public internet address"):
        await guarded.app[keys.HTTP_CLIENT].post(url, json={})
    async with allowing.app[keys.HTTP_CLIENT].post(url, json={}) as response:
        assert response.status == 200
    assert service.hits["completions"] == 1
