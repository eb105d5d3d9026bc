"""One contract for every backend: the same tests on the in-process and Redis implementations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from chatbot.backends.broker import Broker, MemoryBroker
from chatbot.backends.cache import Cache, MemoryCache, RedisCache
from chatbot.backends.ratelimit import MemoryWindows, RateLimiter, parse_rate
from chatbot.backends.redis_broker import RedisBroker

from support import RedisServer, until


class Recorder:
    """A broker listener that keeps what it was given."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.reconnects = 0
        self.arrived = asyncio.Event()

    def on_message(self, channel: str, payload: bytes) -> None:
        self.messages.append((channel, payload))
        self.arrived.set()

    def on_reconnect(self) -> None:
        self.reconnects += 1

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.messages) < count:
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def redis_client(backend_redis_url: str) -> AsyncIterator[Redis | None]:
    if not backend_redis_url:
        yield None
        return
    client = Redis.from_url(backend_redis_url)
    yield client
    await client.aclose()


async def _until_subscribed(
    client: Redis | None, prefix: str, channel: str, count: int = 1
) -> None:
    """Wait until Redis has `count` subscribers on the channel (SUBSCRIBE is not acknowledged)."""
    if client is None:
        return  # the in-process broker subscribes synchronously
    name = f"{prefix}:{channel}"
    async with asyncio.timeout(5):
        while (await client.pubsub_numsub(name))[0][1] < count:
            await asyncio.sleep(0.02)


async def _broker(client: Redis | None, prefix: str) -> Broker:
    broker: Broker = MemoryBroker() if client is None else RedisBroker(client, prefix)
    await broker.start()
    return broker


async def test_broker_delivers_to_subscribers_exactly_once(
    redis_client: Redis | None, redis_prefix: str
) -> None:
    broker = await _broker(redis_client, redis_prefix)
    recorder = Recorder()
    broker.listen(recorder)
    try:
        await broker.publish("room:1", b"before subscribing")
        await broker.subscribe("room:1")
        await broker.publish("room:1", b"one")
        await broker.publish("room:2", b"elsewhere")
        await broker.publish("room:1", b"two")
        # Messages on one channel arrive in order: a Redis echo of "one" or "two" would come
        # before this marker, so once the marker is in, nothing else is on its way.
        await broker.publish("room:1", b"marker")
        await recorder.wait_for(3)
        assert recorder.messages == [("room:1", b"one"), ("room:1", b"two"), ("room:1", b"marker")]
        await broker.unsubscribe("room:1")
        await broker.publish("room:1", b"after unsubscribing")
        await broker.subscribe("room:marker")
        await _until_subscribed(redis_client, redis_prefix, "room:marker")
        await broker.publish("room:marker", b"after it")
        await recorder.wait_for(4)
        assert recorder.messages[3:] == [("room:marker", b"after it")]
        assert broker.healthy
    finally:
        await broker.close()


async def test_every_listener_of_a_broker_gets_the_messages_of_every_subscribed_channel(
    redis_client: Redis | None, redis_prefix: str
) -> None:
    """Features listen side by side (the chat hub, the API keys): each keeps what it knows."""
    receiver = await _broker(redis_client, redis_prefix)
    sender = receiver if redis_client is None else await _broker(redis_client, redis_prefix)
    first, second = Recorder(), Recorder()
    receiver.listen(first)
    receiver.listen(second)
    try:
        await receiver.subscribe("one")
        await receiver.subscribe("two")
        await _until_subscribed(redis_client, redis_prefix, "two")
        await sender.publish("one", b"a")
        await sender.publish("two", b"b")
        await first.wait_for(2)
        await second.wait_for(2)
        assert first.messages == second.messages == [("one", b"a"), ("two", b"b")]
    finally:
        await receiver.close()
        if sender is not receiver:
            await sender.close()


async def test_redis_broker_reaches_other_instances(redis_url: str, redis_prefix: str) -> None:
    client = Redis.from_url(redis_url)
    first, second = RedisBroker(client, redis_prefix), RedisBroker(client, redis_prefix)
    a, b = Recorder(), Recorder()
    first.listen(a)
    second.listen(b)
    await first.start()
    await second.start()
    try:
        await first.subscribe("room")
        await second.subscribe("room")
        await _until_subscribed(client, redis_prefix, "room", count=2)
        await first.publish("room", b"from first")
        await second.publish("room", b"from second")
        await a.wait_for(2)
        await b.wait_for(2)
        assert (
            sorted(a.messages)
            == sorted(b.messages)
            == [
                ("room", b"from first"),
                ("room", b"from second"),
            ]
        )
    finally:
        await first.close()
        await second.close()
        await client.aclose()


async def test_redis_broker_reconnects_after_redis_restarts_and_says_so(
    redis_prefix: str,
) -> None:
    server = RedisServer()
    server.start()
    clients = [Redis.from_url(server.url, socket_connect_timeout=0.5) for _ in range(2)]
    sender, receiver = RedisBroker(clients[0], redis_prefix), RedisBroker(clients[1], redis_prefix)
    recorder = Recorder()
    receiver.listen(recorder)
    sender.listen(Recorder())
    try:
        await sender.start()
        await receiver.start()
        await receiver.subscribe("room")
        server.stop()
        await sender.publish("room", b"lost while down")
        await until(lambda: not receiver.healthy, 10, "the receiver never noticed Redis was down")
        server.start()
        async with asyncio.timeout(10):
            while recorder.reconnects == 0 or not sender.healthy:
                await sender.publish("room", b"probe")
                await asyncio.sleep(0.2)
        await sender.publish("room", b"after restart")
        async with asyncio.timeout(5):
            while ("room", b"after restart") not in recorder.messages:
                await asyncio.sleep(0.05)
        assert receiver.healthy
    finally:
        await sender.close()
        await receiver.close()
        for client in clients:
            await client.aclose()
        server.stop()


@pytest.fixture
def cache(redis_client: Redis | None, redis_prefix: str) -> Cache:
    return MemoryCache() if redis_client is None else RedisCache(redis_client, redis_prefix + ":")


async def test_cache_gets_what_was_set_until_deleted(cache: Cache) -> None:
    assert await cache.get("k") is None
    await cache.set("k", b"v", ttl_seconds=60)
    assert await cache.get("k") == b"v"
    await cache.set("k", b"w", ttl_seconds=60)
    assert await cache.get("k") == b"w"
    await cache.delete("k")
    assert await cache.get("k") is None
    await cache.delete("never set")


async def test_cache_entries_expire(cache: Cache) -> None:
    await cache.set("short", b"v", ttl_seconds=0.05)
    await asyncio.sleep(0.15)
    assert await cache.get("short") is None


async def test_memory_cache_is_bounded() -> None:
    cache = MemoryCache(max_entries=3)
    for key in "abcd":
        await cache.set(key, key.encode(), ttl_seconds=60)
    assert await cache.get("a") is None
    assert await cache.get("d") == b"d"


async def test_redis_cache_reads_a_dead_server_as_a_miss() -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        cache = RedisCache(client)
        await cache.set("k", b"v", ttl_seconds=5)
        assert await cache.get("k") is None
        await cache.delete("k")
    finally:
        await client.aclose()


@pytest.fixture
async def limiter(backend_redis_url: str, redis_prefix: str) -> AsyncIterator[RateLimiter]:
    limiter = RateLimiter(backend_redis_url, redis_prefix)
    yield limiter
    await limiter.close()


async def test_rate_limiter_admits_the_limit_then_refuses_with_retry_after(
    limiter: RateLimiter,
) -> None:
    decisions = [await limiter.hit("3/minute", "login", "1.2.3.4") for _ in range(5)]
    assert [decision.allowed for decision in decisions] == [True, True, True, False, False]
    assert [decision.remaining for decision in decisions[:3]] == [2, 1, 0]
    refused = decisions[3]
    assert refused.limit == 3
    assert refused.window == 60
    assert 1 <= refused.retry_after <= 60
    other = await limiter.hit("3/minute", "login", "5.6.7.8")
    assert other.allowed


async def test_rate_limiter_window_moves_on_and_a_peek_counts_nothing(
    limiter: RateLimiter,
) -> None:
    assert (await limiter.hit("2/second", "typing", "c1")).allowed
    assert (await limiter.peek("2/second", "typing", "c1")).remaining == 1
    assert (await limiter.hit("2/second", "typing", "c1")).allowed
    refused = await limiter.peek("2/second", "typing", "c1")
    assert not refused.allowed
    assert refused.retry_after == 1
    await asyncio.sleep(1.05)
    assert (await limiter.hit("2/second", "typing", "c1")).remaining == 1


async def test_memory_windows_forget_keys_whose_window_has_passed() -> None:
    windows = MemoryWindows()
    second, minute = parse_rate("5/second"), parse_rate("5/minute")
    for conversation in ("c1", "c2", "c3"):
        windows.decide(second, ("messages", conversation), count=True)
    assert len(windows) == 3
    await asyncio.sleep(1.05)
    windows.decide(minute, ("messages", "c4"), count=True)
    assert len(windows) == 1
    allowed, remaining, _ = windows.decide(second, ("messages", "c1"), count=False)
    assert (allowed, remaining) == (True, 5)


async def test_rate_limiter_status_names_its_storage(
    limiter: RateLimiter, backend_redis_url: str
) -> None:
    await limiter.hit("5/second", "probe")
    assert limiter.status == ("ok" if backend_redis_url else "disabled")


async def test_rate_limiter_falls_back_to_per_process_counting_and_returns_to_redis(
    redis_prefix: str,
) -> None:
    server = RedisServer()
    server.start()
    limiter = RateLimiter(server.url, redis_prefix)
    try:
        assert (await limiter.hit("2/minute", "k")).allowed
        assert limiter.status == "ok"
        server.stop()
        during = [await limiter.hit("2/minute", "k") for _ in range(3)]
        assert limiter.status == "degraded"
        assert [decision.allowed for decision in during] == [True, True, False]
        server.start()
        async with asyncio.timeout(10):
            while limiter.status != "ok":
                await asyncio.sleep(0.1)
        after = [await limiter.hit("2/minute", "k") for _ in range(3)]
        # Redis restarted empty (no persistence), so shared counting starts over.
        assert [decision.allowed for decision in after] == [True, True, False]
    finally:
        await limiter.close()
        server.stop()
