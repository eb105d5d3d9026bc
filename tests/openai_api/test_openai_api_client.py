"""The official `openai` package as the client of a real `chatbot serve`: models, answers
streamed and not, an `openai` brain relayed token by token from a local OpenAI-compatible
provider, and the errors OpenAI clients turn into their exceptions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web
from api_support import bearer, create_chatbot, register
from apikeys.apikeys_support import Member, create_key
from openai_support import OPENING_HOURS, Owner, owner_with_knowledge_chatbot
from production.production_support import running, server_env
from webhook_support import own_workspace_id

from support import FakeModel, ServerProcess

pytestmark = pytest.mark.slow

PROVIDER_WORDS = ["Bon", "jour", ",", " how", " may", " I", " help", "?"]
PROVIDER_USAGE = {"prompt_tokens": 57, "completion_tokens": 8, "total_tokens": 65}


class Provider(FakeModel):
    """An OpenAI-compatible provider streaming PROVIDER_WORDS, with its usage when asked."""

    def __init__(self) -> None:
        super().__init__(PROVIDER_WORDS, delay=0.05)
        self.bodies: list[dict[str, Any]] = []

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append(body)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for word in self.words:
            chunk = {
                "id": "p",
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}],
            }
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            await asyncio.sleep(self.delay)
        if (body.get("stream_options") or {}).get("include_usage"):
            last = {"id": "p", "choices": [], "usage": PROVIDER_USAGE}
            await response.write(b"data: " + json.dumps(last).encode() + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        return response


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    env = server_env(
        tmp_path, CHATBOT_BRAINS__SEMANTIC="false", CHATBOT_BRAINS__ALLOW_PRIVATE_BASE_URLS="true"
    )
    async with running(tmp_path, env) as process:
        yield process


@pytest.fixture
async def owner(server: ServerProcess) -> AsyncIterator[Owner]:
    async with aiohttp.ClientSession() as http:
        yield await owner_with_knowledge_chatbot(http, base_url=server.base_url)


def client_for(server: ServerProcess, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0)


def key_of(owner: Owner) -> str:
    return owner.headers["Authorization"].removeprefix("Bearer ")


async def test_the_openai_client_lists_models_and_gets_answers(
    server: ServerProcess, owner: Owner
) -> None:
    async with client_for(server, key_of(owner)) as client:
        models = await client.models.list()
        assert [model.id for model in models.data] == [owner.slug]

        completion = await client.chat.completions.create(
            model=owner.slug, messages=[{"role": "user", "content": "When are you open?"}]
        )
        assert completion.choices[0].message.content == OPENING_HOURS
        assert completion.choices[0].message.role == "assistant"
        assert completion.choices[0].finish_reason == "stop"
        assert completion.usage is not None
        assert completion.usage.total_tokens > completion.usage.prompt_tokens > 0


async def test_the_openai_client_streams_a_knowledge_answer(
    server: ServerProcess, owner: Owner
) -> None:
    async with client_for(server, key_of(owner)) as client:
        stream = await client.chat.completions.create(
            model=owner.slug,
            messages=[{"role": "user", "content": "When are you open?"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        deltas, usage = [], None
        async for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            if chunk.choices and chunk.choices[0].delta.content:
                deltas.append(chunk.choices[0].delta.content)

    assert "".join(deltas) == OPENING_HOURS
    assert len(deltas) == len(OPENING_HOURS.split())  # word by word
    assert usage is not None
    assert usage.completion_tokens > 0


async def test_an_unknown_model_raises_not_found(server: ServerProcess, owner: Owner) -> None:
    async with client_for(server, key_of(owner)) as client:
        with pytest.raises(openai.NotFoundError) as raised:
            await client.chat.completions.create(
                model="no-such-chatbot", messages=[{"role": "user", "content": "Hi"}]
            )
    assert raised.value.code == "model_not_found"
    assert raised.value.param == "model"
    assert raised.value.type == "invalid_request_error"


async def test_an_api_key_serves_its_own_workspace_until_revoked(
    server: ServerProcess, owner: Owner
) -> None:
    """An API key (not an access token) as the client's `api_key`: the models of its own
    workspace only, a streamed answer, then AuthenticationError once the key is deleted."""
    base = server.base_url
    async with aiohttp.ClientSession() as http:
        workspace_id = await own_workspace_id(http, owner.headers, base)
        # The same account owns a second workspace, and a stranger has a chatbot too.
        response = await http.post(
            f"{base}/api/workspaces/", json={"name": "Second shop"}, headers=owner.headers
        )
        assert response.status == 201, await response.text()
        second_id = (await response.json())["id"]
        second = await create_chatbot(
            http, owner.headers, base_url=base, name="Second", workspace_id=second_id
        )
        stranger = bearer((await register(http, base_url=base))["access"])
        await create_chatbot(http, stranger, base_url=base, name="Stranger")
        member = Member(user_id="", headers=owner.headers, workspace_id=workspace_id)
        created = await create_key(http, member, "Support widget", base_url=base)

    key = created["key"]
    assert key != key_of(owner)
    async with client_for(server, key_of(owner)) as client:
        # The account's access token sees both of its workspaces.
        models = await client.models.list()
        assert {model.id for model in models.data} == {owner.slug, second["slug"]}
    async with client_for(server, key) as client:
        models = await client.models.list()
        assert [(m.id, m.owned_by) for m in models.data] == [(owner.slug, workspace_id)]

        stream = await client.chat.completions.create(
            model=owner.slug,
            messages=[{"role": "user", "content": "When are you open?"}],
            stream=True,
        )
        deltas = [
            chunk.choices[0].delta.content
            async for chunk in stream
            if chunk.choices and chunk.choices[0].delta.content
        ]
        assert "".join(deltas) == OPENING_HOURS
        with pytest.raises(openai.NotFoundError):  # the other workspace's chatbot
            await client.chat.completions.create(
                model=second["slug"], messages=[{"role": "user", "content": "Hi"}]
            )

        async with aiohttp.ClientSession() as http:
            path = f"{base}/api/workspaces/{workspace_id}/api-keys/{created['id']}/"
            response = await http.delete(path, headers=owner.headers)
            assert response.status == 204, await response.text()
        with pytest.raises(openai.AuthenticationError) as raised:
            await client.models.list()
        assert raised.value.status_code == 401
        with pytest.raises(openai.AuthenticationError):
            await client.chat.completions.create(
                model=owner.slug, messages=[{"role": "user", "content": "Hi"}]
            )


async def test_a_bad_key_raises_authentication_error(server: ServerProcess, owner: Owner) -> None:
    async with client_for(server, "sk-not-a-key-of-this-server") as client:
        with pytest.raises(openai.AuthenticationError) as raised:
            await client.models.list()
        assert raised.value.status_code == 401
        with pytest.raises(openai.AuthenticationError):
            await client.chat.completions.create(
                model=owner.slug, messages=[{"role": "user", "content": "Hi"}]
            )


async def test_bad_input_raises_the_client_errors(server: ServerProcess, owner: Owner) -> None:
    async with client_for(server, key_of(owner)) as client:
        with pytest.raises(openai.UnprocessableEntityError) as raised:
            await client.chat.completions.create(
                model=owner.slug, messages=[{"role": "system", "content": "Be brief."}]
            )
        assert raised.value.param == "messages"
        with pytest.raises(openai.UnprocessableEntityError):
            await client.chat.completions.create(
                model=owner.slug,
                messages=[{"role": "user", "content": "Hi"}],
                n=3,
            )


async def test_an_openai_brain_is_relayed_token_by_token_with_the_providers_usage(
    server: ServerProcess,
) -> None:
    provider = Provider()
    await provider.start()
    try:
        async with aiohttp.ClientSession() as http:
            headers = bearer((await register(http, base_url=server.base_url))["access"])
            brain = {"type": "openai", "base_url": provider.base_url, "model": "fake-llm"}
            chatbot = await create_chatbot(
                http, headers, base_url=server.base_url, name="LLM", brain=brain
            )
        async with client_for(server, headers["Authorization"][7:]) as client:
            stream = await client.chat.completions.create(
                model=chatbot["slug"],
                messages=[
                    {"role": "user", "content": "Hello"},
                    {"role": "assistant", "content": "Hi! What do you need?"},
                    {"role": "user", "content": "Say hello in French."},
                ],
                stream=True,
                stream_options={"include_usage": True},
                user="customer-1",
            )
            deltas, usage = [], None
            async for chunk in stream:
                usage = chunk.usage or usage
                if chunk.choices and chunk.choices[0].delta.content:
                    deltas.append(chunk.choices[0].delta.content)
            whole = await client.chat.completions.create(
                model=chatbot["slug"], messages=[{"role": "user", "content": "Again?"}]
            )
    finally:
        await provider.close()

    assert deltas == PROVIDER_WORDS  # each provider token relayed as it came
    assert usage is not None
    assert usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"}) == (
        PROVIDER_USAGE
    )
    assert whole.choices[0].message.content == "".join(PROVIDER_WORDS)
    # The provider got the caller's history before the question, after the chatbot's prompt.
    sent = provider.bodies[0]["messages"]
    assert sent[0]["role"] == "system"
    assert [(m["role"], m["content"]) for m in sent[1:]] == [
        ("user", "Hello"),
        ("assistant", "Hi! What do you need?"),
        ("user", "Say hello in French."),
    ]
