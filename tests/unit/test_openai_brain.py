"""The OpenAI-compatible brain against a small local provider, and the brain settings."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import ValidationError

from chatbot.brains import BrainRequest, Turn
from chatbot.brains.base import Usage
from chatbot.brains.openai import OpenAIBrain, chat_messages
from chatbot.brains.schemas import (
    EchoBrainConfig,
    KnowledgeBrainConfig,
    OpenAIBrainConfig,
    keep_api_key,
    parse_brain_config,
    public_brain_config,
    stored_brain_config,
)
from chatbot.brains.sse import SseDecoder, StreamError, completion_delta, completion_usage
from chatbot.retrieval.index import KnowledgeIndex
from chatbot.retrieval.passages import qa_passage

FALLBACK = "I could not answer that; a person will help you."
WORDS = ["Hello", " there", ", ", "how can", " I help?"]

ServerFactory = Callable[..., Awaitable[TestServer]]


def chunk(content: str | None = None, **delta: Any) -> bytes:
    if content is not None:
        delta["content"] = content
    body = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


class FakeProvider:
    """An OpenAI-compatible server whose behaviour is picked by the requested model name."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append((dict(request.headers), body))
        model = body["model"]
        if model == "fail":
            return web.json_response({"error": {"message": "overloaded"}}, status=500)
        if model == "strict" and "stream_options" in body:
            return web.json_response(
                {"error": {"message": "unknown field stream_options"}}, status=400
            )
        if model in ("json", "json-usage"):
            message = {"role": "assistant", "content": "Whole answer."}
            whole: dict[str, Any] = {"choices": [{"index": 0, "message": message}]}
            if model == "json-usage":
                whole["usage"] = {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}
            return web.json_response(whole)
        if model == "slow-start":
            await asyncio.sleep(5)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b": keep-alive comment\n\n" + chunk(role="assistant"))
        if model in ("ok", "no-done", "slow", "garbled", "error-chunk", "strict"):
            for word in WORDS:
                await response.write(chunk(word))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 40, "completion_tokens": 5, "total_tokens": 45}
            await response.write(
                b"data: " + json.dumps({"choices": [], "usage": usage}).encode() + b"\n\n"
            )
        if model == "slow":
            await asyncio.sleep(5)
        if model == "garbled":
            await response.write(b"data: {not json at all\n\n")
        if model == "error-chunk":
            await response.write(b'data: {"error": {"message": "context too long"}}\n\n')
        await response.write(chunk(finish_reason="stop"))
        if model != "no-done":
            await response.write(b"data: [DONE]\n\n")
        return response


@pytest.fixture
async def provider(aiohttp_server: ServerFactory) -> tuple[FakeProvider, str]:
    fake = FakeProvider()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", fake.handle)
    server = await aiohttp_server(app)
    return fake, str(server.make_url("/v1"))


@pytest.fixture
async def brain() -> AsyncIterator[OpenAIBrain]:
    async with aiohttp.ClientSession() as http:
        yield OpenAIBrain(
            http,
            fallback_message=FALLBACK,
            timeout_seconds=3.0,
            connect_timeout_seconds=1.0,
            read_timeout_seconds=0.5,
            history_turns=4,
        )


def ask(base_url: str, model: str, **extra: Any) -> BrainRequest:
    config = {"type": "openai", "base_url": base_url, "model": model, **extra}
    return BrainRequest(chatbot_name="Acme help", question="Hi!", config=config)


async def test_deltas_arrive_in_order(
    provider: tuple[FakeProvider, str], brain: OpenAIBrain
) -> None:
    _, url = provider
    reply = brain.reply(ask(url, "ok"))
    deltas = [delta async for delta in reply]
    assert deltas == WORDS
    assert reply.text == "".join(WORDS)
    assert not reply.handoff


async def test_request_carries_prompt_context_history_and_key(
    provider: tuple[FakeProvider, str], brain: OpenAIBrain
) -> None:
    fake, url = provider
    knowledge = KnowledgeIndex.build([qa_passage("p", "How much does it cost?", "It is free.")])
    history = [Turn("visitor", f"question {n}") for n in range(6)] + [Turn("bot", "answer")]
    request = BrainRequest(
        chatbot_name="Acme help",
        question="How much does it cost?",
        config={
            "type": "openai",
            "base_url": url,
            "model": "ok",
            "api_key": "sk-test",
            "system_prompt": "Be terse.",
            "temperature": 0.2,
            "max_tokens": 50,
        },
        history=history,
        knowledge=knowledge,
    )
    await brain.reply(request).collect()
    headers, body = fake.requests[-1]
    assert headers["Authorization"] == "Bearer sk-test"
    assert body["stream"] is True
    assert (body["temperature"], body["max_tokens"]) == (0.2, 50)
    system, *turns = body["messages"]
    assert system["role"] == "system"
    assert system["content"].startswith("Be terse.")
    assert "It is free." in system["content"]
    # The last four turns only, visitor turns merged, then the question.
    assert turns == [
        {"role": "user", "content": "question 3\n\nquestion 4\n\nquestion 5"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "How much does it cost?"},
    ]


async def test_default_prompt_names_the_chatbot_and_no_key_is_sent(
    provider: tuple[FakeProvider, str], brain: OpenAIBrain
) -> None:
    fake, url = provider
    await brain.reply(ask(url, "ok")).collect()
    headers, body = fake.requests[-1]
    assert "Authorization" not in headers
    assert "Acme help" in body["messages"][0]["content"]
    assert "temperature" not in body


async def test_the_providers_usage_is_asked_for_and_kept(
    provider: tuple[FakeProvider, str], brain: OpenAIBrain
) -> None:
    fake, url = provider
    reply = brain.reply(ask(url, "ok"))
    assert await reply.collect() == "".join(WORDS)
    assert fake.requests[-1][1]["stream_options"] == {"include_usage": True}
    assert reply.usage == Usage(prompt_tokens=40, completion_tokens=5)
    whole = brain.reply(ask(url, "json-usage"))
    assert await whole.collect() == "Whole answer."
    assert whole.usage == Usage(prompt_tokens=12, completion_tokens=2)


async def test_a_provider_refusing_stream_options_is_asked_again_without(
    provider: tuple[FakeProvider, str], brain: OpenAIBrain
) -> None:
    fake, url = provider
    reply = brain.reply(ask(url, "strict"))
    assert await reply.collect() == "".join(WORDS)
    assert not reply.handoff
    assert reply.usage is None
    assert ["stream_options" in body for _, body in fake.requests[-2:]] == [True, False]


async def test_without_usage_from_the_provider_there_is_none(
    provider: tuple[FakeProvider, str], brain: OpenAIBrain
) -> None:
    reply = brain.reply(ask(provider[1], "json"))
    await reply.collect()
    assert reply.usage is None


@pytest.mark.parametrize(
    "usage",
    [
        None,
        "12",
        {"prompt_tokens": 1},
        {"prompt_tokens": -1, "completion_tokens": 2},
        {"prompt_tokens": True, "completion_tokens": 2},
        {"prompt_tokens": 1.5, "completion_tokens": 2},
    ],
)
def test_usage_that_is_not_whole_counts_is_not_trusted(usage: Any) -> None:
    assert completion_usage({"usage": usage}) is None


async def test_non_streamed_answer_is_accepted(
    provider: tuple[FakeProvider, str], brain: OpenAIBrain
) -> None:
    reply = brain.reply(ask(provider[1], "json"))
    assert await reply.collect() == "Whole answer."
    assert not reply.handoff


async def test_stream_without_done_marker_keeps_the_answer(
    provider: tuple[FakeProvider, str], brain: OpenAIBrain
) -> None:
    reply = brain.reply(ask(provider[1], "no-done"))
    assert await reply.collect() == "".join(WORDS)
    assert not reply.handoff


@pytest.mark.parametrize(
    ("model", "reason"),
    [("fail", "http_error"), ("slow-start", "timeout"), ("empty", "empty_answer")],
)
async def test_failures_before_any_text_give_the_fallback(
    provider: tuple[FakeProvider, str], brain: OpenAIBrain, model: str, reason: str
) -> None:
    reply = brain.reply(ask(provider[1], model))
    assert [delta async for delta in reply] == [FALLBACK]
    assert reply.handoff
    assert reply.verdict.reason == reason


@pytest.mark.parametrize(
    ("model", "reason"),
    [("slow", "timeout"), ("garbled", "bad_stream"), ("error-chunk", "bad_stream")],
)
async def test_failures_mid_answer_append_the_fallback_as_a_paragraph(
    provider: tuple[FakeProvider, str], brain: OpenAIBrain, model: str, reason: str
) -> None:
    reply = brain.reply(ask(provider[1], model))
    deltas = [delta async for delta in reply]
    assert deltas == [*WORDS, f"\n\n{FALLBACK}"]
    assert reply.handoff
    assert reply.verdict.reason == reason


async def test_connection_refused_gives_the_fallback(brain: OpenAIBrain) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    reply = brain.reply(ask(f"http://127.0.0.1:{port}/v1", "ok"))
    assert await reply.collect() == FALLBACK
    assert reply.verdict.reason == "connection_error"


async def test_chatbot_fallback_message_overrides_the_default(
    provider: tuple[FakeProvider, str], brain: OpenAIBrain
) -> None:
    reply = brain.reply(ask(provider[1], "fail", fallback_message="Call us instead."))
    assert await reply.collect() == "Call us instead."


def test_chat_messages_map_roles() -> None:
    history = [Turn("bot", "Hi!"), Turn("operator", "Ana here.")]
    assert chat_messages(history, "Thanks") == [
        {"role": "assistant", "content": "Hi!\n\nAna here."},
        {"role": "user", "content": "Thanks"},
    ]


def test_sse_decoder_joins_multiline_data_and_skips_comments() -> None:
    decoder = SseDecoder()
    lines = [": ping\n", "event: message\n", "data: a\n", "data:b\r\n", "\n", "data: tail"]
    assert [decoder.feed(line) for line in lines] == [None, None, None, None, "a\nb", None]
    assert decoder.flush() == "tail"
    assert decoder.flush() is None


@pytest.mark.parametrize(
    "data", ["{bad", "[1, 2]", '{"choices": "x"}', '{"choices": [{"delta": {"content": 3}}]}']
)
def test_completion_delta_refuses_what_no_provider_sends(data: str) -> None:
    with pytest.raises(StreamError):
        completion_delta(data)


def test_completion_delta_reads_text_and_done() -> None:
    assert completion_delta("[DONE]") is None
    assert completion_delta('{"choices": []}') == ""
    assert completion_delta('{"choices": [{"delta": {"content": "hi"}}]}') == "hi"


def test_brain_settings_are_validated() -> None:
    assert parse_brain_config(None) == KnowledgeBrainConfig()
    assert parse_brain_config({"threshold": 0.7}) == KnowledgeBrainConfig(threshold=0.7)
    assert parse_brain_config({"type": "echo"}) == EchoBrainConfig()
    config = parse_brain_config(
        {"type": "openai", "base_url": "https://api.example.com/v1/", "model": "gpt-x"}
    )
    assert isinstance(config, OpenAIBrainConfig)
    assert config.completions_url == "https://api.example.com/v1/chat/completions"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"type": "telepathy"}, "type must be one of"),
        ({"type": "openai", "model": "m"}, "base_url"),
        ({"type": "openai", "base_url": "ftp://x", "model": "m"}, "base_url"),
        ({"type": "openai", "base_url": "https://u:p@x", "model": "m"}, "credentials"),
        ({"type": "openai", "base_url": "https://x", "model": ""}, "model"),
        (
            {"type": "openai", "base_url": "https://x", "model": "m", "temperature": 3},
            "temperature",
        ),
        ({"type": "echo", "surprise": True}, "surprise"),
        ({"type": "knowledge", "threshold": 2}, "threshold"),
    ],
)
def test_invalid_brain_settings_name_the_problem(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        parse_brain_config(data)


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("http://localhost:11434", "http://localhost:11434/v1/chat/completions"),
        ("http://h/v1/chat/completions", "http://h/v1/chat/completions"),
        ("https://h/openai/v1", "https://h/openai/v1/chat/completions"),
    ],
)
def test_completions_url(base_url: str, expected: str) -> None:
    assert OpenAIBrainConfig(base_url=base_url, model="m").completions_url == expected


def test_provider_key_is_stored_but_never_shown() -> None:
    config = parse_brain_config(
        {"type": "openai", "base_url": "https://x/v1", "model": "m", "api_key": "sk-secret"}
    )
    assert stored_brain_config(config)["api_key"] == "sk-secret"
    shown = public_brain_config(config)
    assert shown == {
        "type": "openai",
        "base_url": "https://x/v1",
        "model": "m",
        "context_passages": 3,
        "api_key_set": True,
    }
    assert "sk-secret" not in json.dumps(public_brain_config(stored_brain_config(config)))
    # Even a stored setting that no longer validates is shown without its key.
    assert public_brain_config({"type": "gone", "api_key": "sk-secret"}) == {"type": "gone"}
    assert public_brain_config(None) == {"type": "knowledge"}


def test_sending_back_the_shown_setting_keeps_the_key() -> None:
    old = parse_brain_config(
        {"type": "openai", "base_url": "https://x", "model": "m", "api_key": "k"}
    )
    edited = parse_brain_config({**public_brain_config(old), "model": "n"})
    assert isinstance(edited, OpenAIBrainConfig)
    kept = keep_api_key(edited, old)
    assert isinstance(kept, OpenAIBrainConfig)
    assert kept.api_key is not None
    assert kept.api_key.get_secret_value() == "k"
    moved = parse_brain_config({"type": "openai", "base_url": "https://elsewhere", "model": "m"})
    assert keep_api_key(moved, old) == moved
