"""The brain protocol through the echo brain: streaming, verdicts, the safety net, dispatch."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chatbot.brains import BrainReply, BrainRequest, Brains, Verdict
from chatbot.brains.base import BrainEvent
from chatbot.brains.echo import EchoBrain
from chatbot.brains.factory import brain_type
from chatbot.brains.knowledge import stream_chunks
from chatbot.config import BrainSettings

FALLBACK = "Sorry, let me find a person for you."


def request(question: str = "hello there", **config: object) -> BrainRequest:
    return BrainRequest(chatbot_name="Test bot", question=question, config=config)


async def test_echo_streams_the_question_and_does_not_hand_off() -> None:
    reply = EchoBrain(fallback_message=FALLBACK).reply(request("Is anyone there?"))
    deltas = [delta async for delta in reply]
    assert "".join(deltas) == "Is anyone there?"
    assert reply.text == "Is anyone there?"
    assert reply.handoff is False
    assert reply.finished


async def test_collect_returns_the_whole_text() -> None:
    reply = EchoBrain(fallback_message=FALLBACK).reply(request("ping"))
    assert await reply.collect() == "ping"


async def test_empty_answer_becomes_the_fallback_with_handoff() -> None:
    reply = EchoBrain(fallback_message=FALLBACK).reply(request(""))
    assert await reply.collect() == FALLBACK
    assert reply.handoff
    assert reply.verdict.reason == "empty_answer"


async def test_a_failing_brain_ends_in_the_fallback_after_what_it_streamed() -> None:
    async def broken() -> AsyncIterator[BrainEvent]:
        yield "The answer is"
        raise RuntimeError("bug in a brain")

    reply = BrainReply(broken(), fallback_message=FALLBACK)
    deltas = [delta async for delta in reply]
    assert deltas == ["The answer is", f"\n\n{FALLBACK}"]
    assert reply.text == f"The answer is\n\n{FALLBACK}"
    assert reply.handoff
    assert reply.verdict.reason == "brain_error"


async def test_a_brain_failing_at_once_gives_only_the_fallback() -> None:
    async def broken() -> AsyncIterator[BrainEvent]:
        raise RuntimeError("bug in a brain")
        yield ""  # pragma: no cover - makes this an async generator

    reply = BrainReply(broken(), fallback_message=FALLBACK)
    assert await reply.collect() == FALLBACK
    assert reply.handoff


async def test_a_handoff_without_text_still_says_the_fallback() -> None:
    async def events() -> AsyncIterator[BrainEvent]:
        yield Verdict(handoff=True, reason="quota")

    reply = BrainReply(events(), fallback_message=FALLBACK)
    assert await reply.collect() == FALLBACK
    assert reply.verdict.reason == "quota"


async def test_the_last_verdict_counts() -> None:
    async def events() -> AsyncIterator[BrainEvent]:
        yield "partial"
        yield Verdict(handoff=True, reason="unsure", confidence=0.2)

    reply = BrainReply(events(), fallback_message=FALLBACK)
    assert await reply.collect() == "partial"
    assert reply.verdict == Verdict(handoff=True, reason="unsure", confidence=0.2)


async def test_closing_a_reply_early_closes_the_brain() -> None:
    closed = []

    async def endless() -> AsyncIterator[BrainEvent]:
        try:
            while True:
                yield "word "
        finally:
            closed.append(True)

    async with BrainReply(endless(), fallback_message=FALLBACK) as reply:
        async for _ in reply:
            if len(reply.text) > 20:
                break
    assert closed == [True]


async def test_brains_pick_the_brain_from_the_setting() -> None:
    brains = Brains(fallback_message=FALLBACK)
    assert await brains.reply(request("echo me", type="echo")).collect() == "echo me"
    # No knowledge index: the default knowledge brain cannot answer and hands off.
    reply = brains.reply(request("what is it?"))
    assert await reply.collect() == FALLBACK
    assert reply.handoff


async def test_a_stale_invalid_setting_gets_the_fallback() -> None:
    brains = Brains(fallback_message=FALLBACK)
    reply = brains.reply(request("hi", type="telepathy"))
    assert await reply.collect() == FALLBACK
    assert reply.handoff
    assert reply.verdict.reason == "invalid_config"


async def test_openai_brain_without_http_client_hands_off() -> None:
    brains = Brains(fallback_message=FALLBACK)
    config = {"type": "openai", "base_url": "http://127.0.0.1:9", "model": "m"}
    reply = brains.reply(BrainRequest(chatbot_name="b", question="hi", config=config))
    assert await reply.collect() == FALLBACK
    assert reply.handoff


def test_brains_from_settings_use_the_configured_fallback() -> None:
    settings = BrainSettings(fallback_message="Ask a human!", knowledge_threshold=0.7)
    brains = Brains.from_settings(settings)
    assert brains.fallback_message == "Ask a human!"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (None, "knowledge"),
        ({}, "knowledge"),
        ({"type": "echo"}, "echo"),
        ({"type": 3}, "knowledge"),
    ],
)
def test_brain_type_for_logs(config: dict[str, object] | None, expected: str) -> None:
    assert brain_type(config) == expected


@pytest.mark.parametrize(
    "text",
    ["", "short", "a much longer answer " * 10, "  spaces  and\nnew lines\n\n kept ", "x" * 200],
)
def test_stream_chunks_join_back_exactly(text: str) -> None:
    chunks = list(stream_chunks(text, size=16))
    assert "".join(chunks) == text
    assert all(chunk for chunk in chunks)
