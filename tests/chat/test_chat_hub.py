"""The room hub over each broker: local sockets per room, events encoded once, resync."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime

import redis.asyncio as aioredis

from chatbot.backends.broker import MemoryBroker
from chatbot.backends.redis_broker import RedisBroker
from chatbot.chat.hub import (
    Audience,
    Event,
    RoomHub,
    decode_records,
    encode_record,
    tenant_channel,
)


class Recorder:
    """A hub member that keeps what it is given."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.resyncs = 0
        self.ended: list[int] = []
        self.forgotten: list[str] = []
        self.arrived = asyncio.Event()

    def deliver(self, event: Event) -> None:
        self.events.append(event)
        self.arrived.set()

    def resync(self, since: datetime | None = None) -> None:
        self.resyncs += 1

    def end_session(self, epoch: int) -> None:
        self.ended.append(epoch)
        self.arrived.set()

    def forget(self, conversation_id: str) -> None:
        self.forgotten.append(conversation_id)
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


async def _subscribers(redis_url: str, prefix: str, tenant: str) -> int:
    client = aioredis.Redis.from_url(redis_url)
    try:
        [(_, count)] = await client.pubsub_numsub(f"{prefix}:{tenant_channel(tenant)}")
        return int(count)
    finally:
        await client.aclose()


async def _until_subscribed(redis_url: str, prefix: str, tenant: str, count: int) -> None:
    """SUBSCRIBE is not acknowledged: wait until Redis counts `count` instances on the tenant."""
    async with asyncio.timeout(5):
        while await _subscribers(redis_url, prefix, tenant) < count:
            await asyncio.sleep(0.02)


@asynccontextmanager
async def echo_barrier(redis_url: str, prefix: str, tenant: str) -> AsyncIterator[EchoBarrier]:
    """Another instance, to prove that nothing more is on its way to this one's members.

    What this instance publishes reaches Redis, and so the other instance, in order; once the
    other instance has it, a marker that it publishes next comes to this instance after anything
    of the earlier batch, an echo of its own included. On the in-process broker nothing travels,
    so there is nothing to wait for.
    """
    if not redis_url:
        yield EchoBarrier(None, redis_url, prefix, tenant)
        return
    async with hub_on(redis_url, prefix) as there:
        barrier = EchoBarrier(there, redis_url, prefix, tenant)
        async with there.operators(tenant, barrier.witness):
            await _until_subscribed(redis_url, prefix, tenant, 1)
            yield barrier


class EchoBarrier:
    def __init__(self, there: RoomHub | None, redis_url: str, prefix: str, tenant: str) -> None:
        self._there = there
        self._redis = (redis_url, prefix)
        self._tenant = tenant
        self.witness = Recorder()

    async def passed(self, published: int, here: Recorder, conversation: str) -> None:
        """Wait until the other instance saw `published` events and `here` (a member of the
        conversation on this instance) got the marker sent after them."""
        if self._there is None:
            return
        await self.witness.wait_for(published)
        await _until_subscribed(*self._redis, self._tenant, 2)
        # To the conversation's visitors only: the operators here are under test too.
        self._there.publish(Event(b"marker", conversation), self._tenant, Audience.VISITORS)
        await here.wait_for(len(here.events) + 1)
        assert here.frames[-1] == b"marker"
        here.events.pop()


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
    async with (
        hub_on(backend_redis_url, redis_prefix) as hub,
        echo_barrier(backend_redis_url, redis_prefix, "tenant") as barrier,
        AsyncExitStack() as rooms,
    ):
        visitor, other_visitor, operator, other_tenant = (Recorder() for _ in range(4))
        await rooms.enter_async_context(hub.conversation("tenant", "c1", visitor))
        await rooms.enter_async_context(hub.conversation("tenant", "c2", other_visitor))
        await rooms.enter_async_context(hub.operators("tenant", operator))
        await rooms.enter_async_context(hub.operators("someone-else", other_tenant))

        hub.publish(Event(b"both", "c1", 1), "tenant", Audience.EVERYONE)
        hub.publish(Event(b"visitor only", "c1"), "tenant", Audience.VISITORS)
        hub.publish(Event(b"operators only", "c1"), "tenant", Audience.OPERATORS)
        await barrier.passed(2, visitor, "c1")  # the other instance's operator gets two

    assert visitor.frames == [b"both", b"visitor only"]
    assert operator.frames == [b"both", b"operators only"]
    assert other_visitor.frames == []
    assert other_tenant.frames == []


async def test_a_member_that_left_gets_nothing_more(
    backend_redis_url: str, redis_prefix: str
) -> None:
    async with (
        hub_on(backend_redis_url, redis_prefix) as hub,
        echo_barrier(backend_redis_url, redis_prefix, "tenant") as barrier,
    ):
        member, listener = Recorder(), Recorder()
        async with hub.conversation("tenant", "c1", listener):
            async with hub.conversation("tenant", "c1", member):
                hub.publish(Event(b"before", "c1"), "tenant", Audience.EVERYONE)
            hub.publish(Event(b"after", "c1"), "tenant", Audience.EVERYONE)
            await barrier.passed(2, listener, "c1")
            assert hub.conversation_size("c1") == 1  # the listener

    assert member.frames == [b"before"]
    assert listener.frames == [b"before", b"after"]
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
        # After the 200, a marker from there reaches here behind any echo of here's own events.
        there.publish(Event(b"marker", "c1"), "tenant", Audience.EVERYONE)
        await near.wait_for(201)
        near.events.pop()

    assert [event.seq for event in far_visitor.events[:200]] == list(range(1, 201))
    assert [event.seq for event in far_operator.events[:200]] == list(range(1, 201))
    assert [event.seq for event in near.events] == list(range(1, 201))  # not twice


async def test_an_instance_listens_to_a_tenant_only_while_it_has_its_sockets(
    redis_url: str, redis_prefix: str
) -> None:
    async with hub_on(redis_url, redis_prefix) as here, hub_on(redis_url, redis_prefix) as there:
        member = Recorder()
        async with there.operators("tenant", member):
            here.publish(Event(b"while joined", "c1"), "tenant", Audience.OPERATORS)
            await member.wait_for(1)
        marker = Recorder()
        async with there.operators("marker", marker):
            await _until_subscribed(redis_url, redis_prefix, "marker", 1)
            here.publish(Event(b"after leaving", "c1"), "tenant", Audience.OPERATORS)
            # Redis keeps one connection's publishes in order: once the marker, published by
            # `here` after the event, has arrived there, the event would have too.
            here.publish(Event(b"marker", "c1"), "marker", Audience.OPERATORS)
            await marker.wait_for(1)

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


async def test_an_erasure_makes_the_conversations_members_and_the_operators_forget_it() -> None:
    erased: list[list[str]] = []
    hub = RoomHub(MemoryBroker(), on_erased=lambda ids: erased.append(list(ids)))
    await hub.start()
    async with AsyncExitStack() as rooms:
        rooms.push_async_callback(hub.close)
        visitor, operator, bystander, stranger = Recorder(), Recorder(), Recorder(), Recorder()
        await rooms.enter_async_context(hub.conversation("tenant", "c1", visitor))
        await rooms.enter_async_context(hub.operators("tenant", operator))
        await rooms.enter_async_context(hub.conversation("tenant", "c2", bystander))
        await rooms.enter_async_context(hub.operators("other", stranger))

        await hub.erase("tenant", ["c1", "c3"])

    assert visitor.forgotten == ["c1"]
    assert operator.forgotten == ["c1", "c3"]
    assert bystander.forgotten == []
    assert stranger.forgotten == []
    assert erased == [["c1", "c3"]]


async def test_an_erasure_published_by_one_instance_reaches_the_other(
    redis_url: str, redis_prefix: str
) -> None:
    async with (
        hub_on(redis_url, redis_prefix) as here,
        hub_on(redis_url, redis_prefix) as there,
        AsyncExitStack() as rooms,
    ):
        near, far = Recorder(), Recorder()
        await rooms.enter_async_context(here.conversation("tenant", "c1", near))
        await rooms.enter_async_context(there.conversation("tenant", "c1", far))
        await here.erase("tenant", ["c1"])
        async with asyncio.timeout(5):
            while not far.forgotten:
                await asyncio.sleep(0.01)
        # A marker after the erasure: anything more for `near` would have come before it.
        there.publish(Event(b"marker", "c1"), "tenant", Audience.VISITORS)
        await near.wait_for(1)

    assert far.forgotten == ["c1"]
    assert near.forgotten == ["c1"]  # its own erasure, once
