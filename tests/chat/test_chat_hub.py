"""The room hub over each broker: local sockets per room, events encoded once, resync."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime

import redis.asyncio as aioredis

from chatbot.backends.broker import MemoryBroker
from chatbot.backends.redis_broker import RedisBroker
from chatbot.chat.hub import Audience, Event, RoomHub, decode_records, encode_record


class Recorder:
    """A hub member that keeps what it is given."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.resyncs = 0
        self.ended: list[int] = []
        self.arrived = asyncio.Event()

    def deliver(self, event: Event) -> None:
        self.events.append(event)
        self.arrived.set()

    def resync(self, since: datetime | None = None) -> None:
        self.resyncs += 1

    def end_session(self, epoch: int) -> None:
        self.ended.append(epoch)
        self.arrived.set()

    @property
    def frames(self) -> list[bytes]:
        return [event.frame for event in self.events]

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.events) < count:
                self.arrived.clear()
                await self.arrived.wait()


@asynccontextmanager
async def hub_on(redis_url: str, prefix: str) -> AsyncIterator[RoomHub]:
    """A hub on the in-process broker (no URL), or on a Redis broker of its own."""
    if not redis_url:
        hub = RoomHub(MemoryBroker())
        await hub.start()
        yield hub
        await hub.close()
        return
    client = aioredis.Redis.from_url(redis_url)
    broker = RedisBroker(client, prefix)
    await broker.start()
    hub = RoomHub(broker)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.close()
        await broker.close()
        await client.aclose()


def test_events_cross_the_wire_unchanged() -> None:
    message = Event(b'{"type":"message","text":"a b"}', "conversation-1", 42)
    typing = Event(b'{"type":"typing"}', "conversation-2")
    wire = encode_record(message, Audience.EVERYONE) + encode_record(typing, Audience.OPERATORS)

    assert list(decode_records(wire + b"garbage\n9 x notaseq {}\n")) == [
        (message, Audience.EVERYONE),
        (typing, Audience.OPERATORS),
    ]


async def test_events_reach_the_rooms_of_their_audience_only(
    backend_redis_url: str, redis_prefix: str
) -> None:
    async with hub_on(backend_redis_url, redis_prefix) as hub, AsyncExitStack() as rooms:
        visitor, other_visitor, operator, other_tenant = (Recorder() for _ in range(4))
        await rooms.enter_async_context(hub.conversation("tenant", "c1", visitor))
        await rooms.enter_async_context(hub.conversation("tenant", "c2", other_visitor))
        await rooms.enter_async_context(hub.operators("tenant", operator))
        await rooms.enter_async_context(hub.operators("someone-else", other_tenant))

        hub.publish(Event(b"both", "c1", 1), "tenant", Audience.EVERYONE)
        hub.publish(Event(b"visitor only", "c1"), "tenant", Audience.VISITORS)
        hub.publish(Event(b"operators only", "c1"), "tenant", Audience.OPERATORS)
        await asyncio.sleep(0.1)

    assert visitor.frames == [b"both", b"visitor only"]
    assert operator.frames == [b"both", b"operators only"]
    assert other_visitor.frames == []
    assert other_tenant.frames == []


async def test_a_member_that_left_gets_nothing_more(
    backend_redis_url: str, redis_prefix: str
) -> None:
    async with hub_on(backend_redis_url, redis_prefix) as hub:
        member = Recorder()
        async with hub.conversation("tenant", "c1", member):
            hub.publish(Event(b"before", "c1"), "tenant", Audience.EVERYONE)
        hub.publish(Event(b"after", "c1"), "tenant", Audience.EVERYONE)
        await asyncio.sleep(0.1)

    assert member.frames == [b"before"]
    assert hub.conversation_size("c1") == 0


async def test_events_reach_another_instance_in_order_and_once_here(
    redis_url: str, redis_prefix: str
) -> None:
    async with (
        hub_on(redis_url, redis_prefix) as here,
        hub_on(redis_url, redis_prefix) as there,
        AsyncExitStack() as rooms,
    ):
        near, far_visitor, far_operator = Recorder(), Recorder(), Recorder()
        await rooms.enter_async_context(here.conversation("tenant", "c1", near))
        await rooms.enter_async_context(there.conversation("tenant", "c1", far_visitor))
        await rooms.enter_async_context(there.operators("tenant", far_operator))

        for seq in range(1, 201):
            here.publish(Event(b"m", "c1", seq), "tenant", Audience.EVERYONE)
        await far_visitor.wait_for(200)
        await far_operator.wait_for(200)
        await asyncio.sleep(0.2)

    assert [event.seq for event in far_visitor.events] == list(range(1, 201))
    assert [event.seq for event in far_operator.events] == list(range(1, 201))
    assert [event.seq for event in near.events] == list(range(1, 201))  # not twice


async def test_an_instance_listens_to_a_tenant_only_while_it_has_its_sockets(
    redis_url: str, redis_prefix: str
) -> None:
    async with hub_on(redis_url, redis_prefix) as here, hub_on(redis_url, redis_prefix) as there:
        member = Recorder()
        async with there.operators("tenant", member):
            here.publish(Event(b"while joined", "c1"), "tenant", Audience.OPERATORS)
            await member.wait_for(1)
        async with there.operators("other", Recorder()):
            here.publish(Event(b"after leaving", "c1"), "tenant", Audience.OPERATORS)
            await asyncio.sleep(0.2)

    assert member.frames == [b"while joined"]


async def test_a_broker_reconnect_asks_every_member_to_resync() -> None:
    hub = RoomHub(MemoryBroker())
    first, second = Recorder(), Recorder()
    async with (
        hub.conversation("tenant", "c1", first),
        hub.operators("tenant", first),
        hub.operators("tenant", second),
    ):
        hub.on_reconnect()

    assert (first.resyncs, second.resyncs) == (1, 1)
