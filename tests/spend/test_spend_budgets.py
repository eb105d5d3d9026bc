"""Token budgets on real apps: a provider reporting `usage` drives a chatbot past its budget,
and the next answer is the fallback with a handoff, on each storage stack and across instances."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from spend_support import MeteredModel, ask, handed_off, openai_chatbot, owner, usage, visitor_path

from chatbot.chat.bot import PROFILE_TTL_SECONDS

from conftest import AppClient, ClientFactory

ALLOW_LOCAL_MODEL = {"brains": {"allow_private_base_urls": True}}
FALLBACK = "Someone from the team will answer you shortly."
AGENT = "/ws/chat/agent/"
BUDGET_LOGGER = "chatbot.spend.budget"


@pytest.fixture
async def model() -> AsyncIterator[MeteredModel]:
    """The provider: 40 prompt and 10 completion tokens per answer, as it reports them."""
    fake = MeteredModel()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def app(make_client: ClientFactory) -> AppClient:
    return await make_client(brains={**ALLOW_LOCAL_MODEL["brains"], "fallback_message": FALLBACK})


def budget_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == BUDGET_LOGGER and record.levelno == logging.WARNING
    ]


async def next_conversation_event(agent: Any, status: str) -> dict[str, Any]:
    while True:
        frame = json.loads(await agent.receive_str(timeout=10))
        if frame["type"] == "conversation" and frame["conversation"]["status"] == status:
            conversation: dict[str, Any] = frame["conversation"]
            return conversation


@pytest.mark.both_stacks
async def test_past_the_monthly_budget_the_answer_is_the_fallback_and_a_handoff(
    app: AppClient, model: MeteredModel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=BUDGET_LOGGER)
    headers = await owner(app)
    chatbot = await openai_chatbot(app, headers, model, {"monthly": 100})

    async with (
        app.ws_connect(AGENT, headers=headers) as agent,
        app.ws_connect(visitor_path(chatbot["slug"])) as visitor,
    ):
        first = await ask(visitor, "When do you open?")
        second = await ask(visitor, "And on Sundays?")  # 50 tokens spent, below 100
        third = await ask(visitor, "Thanks!")  # 100 spent: the budget is reached
        await handed_off(visitor)
        event = await next_conversation_event(agent, "waiting_for_human")

    assert first["text"] == second["text"] == model.answer
    assert third["text"] == FALLBACK
    assert event["id"] == third["conversation_id"]
    assert len(model.requests) == 2  # the provider is not asked once the budget is reached
    assert all(body["stream_options"] == {"include_usage": True} for body in model.requests)
    figures = await usage(app, headers, chatbot["id"])
    today = datetime.now(UTC).date()
    assert figures["month"] == today.strftime("%Y-%m")
    assert (figures["prompt_tokens"], figures["completion_tokens"]) == (80, 20)
    assert figures["total_tokens"] == 100
    assert (figures["replies"], figures["estimated_replies"]) == (2, 0)
    assert figures["token_budget"] == {"monthly": 100, "per_conversation": None}
    assert (figures["remaining"], figures["budget_reached"]) == (0, True)
    assert figures["days"][-1] == {
        "day": today.isoformat(),
        "prompt_tokens": 80,
        "completion_tokens": 20,
        "total_tokens": 100,
        "replies": 2,
    }
    assert [day["total_tokens"] for day in figures["days"][:-1]] == [0] * (today.day - 1)
    # Another visitor's first message gets the fallback too, and the log says it only once.
    async with app.ws_connect(visitor_path(chatbot["slug"])) as other:
        assert (await ask(other, "Hello?"))["text"] == FALLBACK
        await handed_off(other)
    warnings = budget_warnings(caplog)
    assert len(warnings) == 1, warnings
    assert "monthly token budget" in warnings[0]
    assert chatbot["slug"] in warnings[0]


@pytest.mark.both_stacks
async def test_past_the_per_conversation_cap_only_that_conversation_is_handed_off(
    app: AppClient, model: MeteredModel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=BUDGET_LOGGER)
    headers = await owner(app)
    chatbot = await openai_chatbot(app, headers, model, {"per_conversation": 100})

    async with app.ws_connect(visitor_path(chatbot["slug"])) as greedy:
        answers = [(await ask(greedy, f"question {n}"))["text"] for n in range(3)]
        await handed_off(greedy)
    async with app.ws_connect(visitor_path(chatbot["slug"])) as other:
        fresh = await ask(other, "A question of my own")

    assert answers == [model.answer, model.answer, FALLBACK]
    assert fresh["text"] == model.answer
    figures = await usage(app, headers, chatbot["id"])
    assert figures["total_tokens"] == 150
    assert (figures["remaining"], figures["budget_reached"]) == (None, False)
    warnings = budget_warnings(caplog)
    assert len(warnings) == 1, warnings
    assert "per-conversation token budget" in warnings[0]


@pytest.mark.both_stacks
async def test_a_provider_that_reports_no_usage_is_counted_by_estimate(
    make_client: ClientFactory,
) -> None:
    silent = MeteredModel(usage=None)
    await silent.start()
    try:
        app = await make_client(**ALLOW_LOCAL_MODEL)
        headers = await owner(app)
        chatbot = await openai_chatbot(app, headers, silent, {})
        async with app.ws_connect(visitor_path(chatbot["slug"])) as visitor:
            answer = await ask(visitor, "When do you open? 営業時間は？")
        figures = await usage(app, headers, chatbot["id"])
    finally:
        await silent.close()

    assert answer["text"] == silent.answer
    # The documented estimate: a token per 4 bytes of UTF-8, 4 per message, 3 for the answer.
    messages = silent.requests[0]["messages"]
    prompt = 3 + sum(4 + math.ceil(len(m["content"].encode()) / 4) for m in messages)
    assert figures["prompt_tokens"] == prompt
    assert figures["completion_tokens"] == math.ceil(len(silent.answer.encode()) / 4)
    assert (figures["replies"], figures["estimated_replies"]) == (1, 1)


async def test_two_instances_count_into_the_same_budget(
    make_client: ClientFactory, postgres_url: str, redis_url: str, model: MeteredModel
) -> None:
    one = await make_client(database_url=postgres_url, redis_url=redis_url, **ALLOW_LOCAL_MODEL)
    two = await make_client(database_url=postgres_url, redis_url=redis_url, **ALLOW_LOCAL_MODEL)
    headers = await owner(one)
    chatbot = await openai_chatbot(one, headers, model, {"monthly": 100})
    slug = chatbot["slug"]

    async with one.ws_connect(visitor_path(slug)) as first:
        assert (await ask(first, "Hi from one"))["text"] == model.answer
    async with two.ws_connect(visitor_path(slug)) as second:
        assert (await ask(second, "Hi from two"))["text"] == model.answer
    # 100 tokens, spent half on each instance: a third visitor, on either, is over budget.
    async with one.ws_connect(visitor_path(slug)) as third:
        over = await ask(third, "Hi again from one")
        await handed_off(third)

    assert over["text"] != model.answer
    assert len(model.requests) == 2
    for instance in (one, two):
        figures = await usage(instance, headers, chatbot["id"])
        assert (figures["total_tokens"], figures["replies"]) == (100, 2)
        assert figures["budget_reached"] is True


@pytest.mark.both_stacks
async def test_raising_the_budget_lets_the_bot_answer_again(
    app: AppClient, model: MeteredModel
) -> None:
    headers = await owner(app)
    chatbot = await openai_chatbot(app, headers, model, {"monthly": 50, "per_conversation": 500})
    async with app.ws_connect(visitor_path(chatbot["slug"])) as visitor:
        assert (await ask(visitor, "one"))["text"] == model.answer
        assert (await ask(visitor, "two"))["text"] == FALLBACK
        await handed_off(visitor)

    response = await app.patch(
        f"/api/chatbots/{chatbot['id']}/", json={"token_budget": {"monthly": 1000}}, headers=headers
    )
    changed = await response.json()
    assert response.status == 200, changed
    assert changed["token_budget"] == {"monthly": 1000, "per_conversation": 500}
    # The bot reads its chatbot's settings again within PROFILE_TTL_SECONDS.
    deadline = time.monotonic() + PROFILE_TTL_SECONDS + 5
    while True:
        async with app.ws_connect(visitor_path(chatbot["slug"])) as later:
            if (await ask(later, "three"))["text"] == model.answer:
                break
        assert time.monotonic() < deadline, "the raised budget never reached the bot"
        await asyncio.sleep(0.5)
    figures = await usage(app, headers, chatbot["id"])
    assert (figures["total_tokens"], figures["remaining"]) == (100, 900)
