"""Two instances on one PostgreSQL database and one Redis: nothing lost, nothing twice.

The instances are two apps in this process, each with its own engine, broker and hub, exactly
as two servers would have; only the event loop is shared.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest
from aiohttp import ClientWebSocketResponse
from chat_helpers import (
    Frame,
    create_chatbot,
    frame_of_type,
    message_frame,
    next_frame,
    register,
    send_message,
    visitor_path,
)
from sqlalchemy import func, select

from chatbot import keys
from chatbot.storage.schema import messages

from conftest import AppClient, ClientFactory
from support import RedisServer, until

AGENT = "/ws/chat/agent/"


@pytest.fixture
async def pair(
    make_client: ClientFactory, postgres_url: str, redis_url: str
) -> tuple[AppClient, AppClient]:
    first = await make_client(database_url=postgres_url, redis_url=redis_url)
    second = await make_client(database_url=postgres_url, redis_url=redis_url)
    return first, second


async def test_a_visitor_on_one_instance_and_an_operator_on_another_talk_both_ways(
    pair: tuple[AppClient, AppClient],
) -> None:
    one, two = pair
    tenant = await register(one)
    chatbot = await create_chatbot(one, tenant, greeting="")
    async with (
        two.ws_connect(AGENT, headers=tenant.headers) as agent,
        one.ws_connect(visitor_path(chatbot["slug"])) as visitor,
    ):
        await next_frame(agent)
        conversation_id = (await next_frame(visitor))["conversation_id"]
        await send_message(visitor, "hello from instance one", "v1")
        started = await frame_of_type(agent, "conversation")
        seen = await message_frame(agent, "visitor")
        answer = await message_frame(agent, "bot")

        await agent.send_json({"type": "takeover", "conversation_id": conversation_id})
        status = await frame_of_type(visitor, "status")
        await agent.send_json({"type": "typing", "conversation_id": conversation_id})
        typing = await frame_of_type(visitor, "typing")
        await agent.send_json(
            {
                "type": "message",
                "conversation_id": conversation_id,
                "text": "hello from instance two",
                "client_id": "o1",
            }
        )
        reply = await message_frame(visitor, "operator")

    assert started["conversation"]["id"] == conversation_id
    assert seen["message"]["text"] == "hello from instance one"
    assert answer["message"]["seq"] == 2
    assert status["status"] == "human"
    assert typing["role"] == "operator"
    assert reply["message"]["text"] == "hello from instance two"
    assert reply["message"]["seq"] == 3


async def run_visitor(
    client: AppClient, slug: str, name: str, count: int
) -> tuple[str, dict[str, int]]:
    """Send `count` messages at once; return the conversation and each acknowledged seq."""
    async with client.ws_connect(visitor_path(slug)) as ws:
        conversation_id = (await next_frame(ws))["conversation_id"]
        for index in range(count):
            await send_message(ws, f"{name} says {index}", f"{name}-{index}")
        acked: dict[str, int] = {}
        answers = 0
        async with asyncio.timeout(90):
            while len(acked) < count or answers < count:
                frame = await next_frame(ws, timeout=90)
                assert frame["type"] not in ("error",), frame
                if frame["type"] == "message":
                    message = frame["message"]
                    if message["role"] == "visitor":
                        assert message["client_id"] not in acked, "acknowledged twice"
                        acked[message["client_id"]] = message["seq"]
                    else:
                        answers += 1
    return conversation_id, acked


async def collect_messages(
    agent: ClientWebSocketResponse, expected: int, received: dict[str, list[int]]
) -> None:
    async with asyncio.timeout(120):
        total = 0
        while total < expected:
            frame = await next_frame(agent, timeout=120)
            if frame["type"] == "message":
                message = frame["message"]
                received[message["conversation_id"]].append(message["seq"])
                total += 1


async def test_twenty_visitors_sending_fifty_messages_at_once_lose_nothing(
    pair: tuple[AppClient, AppClient],
) -> None:
    one, two = pair
    tenant = await register(one)
    chatbot = await create_chatbot(one, tenant, greeting="")
    visitors, count = 20, 50
    received: dict[str, list[int]] = defaultdict(list)
    async with (
        one.ws_connect(AGENT, headers=tenant.headers) as near,
        two.ws_connect(AGENT, headers=tenant.headers) as far,
    ):
        await next_frame(near)
        await next_frame(far)
        far_received: dict[str, list[int]] = defaultdict(list)
        collectors = [
            asyncio.create_task(collect_messages(near, visitors * count * 2, received)),
            asyncio.create_task(collect_messages(far, visitors * count * 2, far_received)),
        ]
        results = await asyncio.gather(
            *(
                run_visitor(one if index % 2 else two, chatbot["slug"], f"v{index}", count)
                for index in range(visitors)
            )
        )
        await asyncio.gather(*collectors)

    engine = one.app[keys.ENGINE]
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(
                    messages.c.conversation_id,
                    func.count(),
                    func.count(messages.c.client_id.distinct()),
                    func.max(messages.c.seq),
                ).group_by(messages.c.conversation_id)
            )
        ).all()
    assert len(rows) == visitors
    for _conversation_id, stored, distinct_client_ids, last_seq in rows:
        assert stored == last_seq == count * 2  # every visitor message once, each answered
        assert distinct_client_ids == count
    for conversation_id, acked in results:
        assert len(acked) == count
        for seen in (received[conversation_id], far_received[conversation_id]):
            assert seen == list(range(1, count * 2 + 1)), "in seq order, each once"
            assert set(acked.values()) <= set(seen)


async def drain_into(ws: ClientWebSocketResponse, seqs: list[int], stop: asyncio.Event) -> None:
    """Record the seq of every message frame until `stop` is set."""
    while not stop.is_set():
        try:
            frame: Frame = await next_frame(ws, timeout=0.2)
        except TimeoutError:
            continue
        if frame["type"] == "message":
            seqs.append(frame["message"]["seq"])


async def test_delivery_resumes_after_redis_restarts_and_nothing_is_missing_or_doubled(
    make_client: ClientFactory, postgres_url: str
) -> None:
    redis = RedisServer()
    redis.start()
    try:
        one = await make_client(database_url=postgres_url, redis_url=redis.url)
        two = await make_client(database_url=postgres_url, redis_url=redis.url)
        tenant = await register(one)
        chatbot = await create_chatbot(one, tenant, greeting="Hi")
        async with (
            two.ws_connect(AGENT, headers=tenant.headers) as agent,
            one.ws_connect(visitor_path(chatbot["slug"])) as visitor,
        ):
            await next_frame(agent)
            conversation_id = (await next_frame(visitor))["conversation_id"]
            visitor_seqs: list[int] = [1]  # the greeting, just received below
            assert (await next_frame(visitor))["message"]["seq"] == 1
            agent_seqs: list[int] = []
            stop = asyncio.Event()
            readers = [
                asyncio.create_task(drain_into(visitor, visitor_seqs, stop)),
                asyncio.create_task(drain_into(agent, agent_seqs, stop)),
            ]
            await send_message(visitor, "before the outage", "v0")
            await until(lambda: 3 in agent_seqs, 10)

            redis.stop()
            for index in range(1, 4):
                await send_message(visitor, f"during the outage {index}", f"v{index}")
            await agent.send_json(
                {
                    "type": "message",
                    "conversation_id": conversation_id,
                    "text": "operator during the outage",
                    "client_id": "o1",
                }
            )
            # Not a wait for anything: the outage lasts a second, long enough for the
            # instances to notice it, with these writes made while it lasts.
            await asyncio.sleep(1.0)

            redis.start()
            # Three questions and answers, and the operator's message: seq 1..10 everywhere.
            await until(lambda: len(set(visitor_seqs)) >= 10 and len(set(agent_seqs)) >= 9, 15)
            await send_message(visitor, "after the outage", "v9")
            await until(lambda: 12 in visitor_seqs and 12 in agent_seqs, 10)
            stop.set()
            await asyncio.gather(*readers)
    finally:
        redis.stop()

    assert visitor_seqs == sorted(set(visitor_seqs)), "the visitor got a message twice"
    assert agent_seqs == sorted(set(agent_seqs)), "the operator got a message twice"
    assert visitor_seqs == list(range(1, 13))
    assert agent_seqs == list(range(2, 13))  # the greeting came before the conversation did
