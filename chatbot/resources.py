"""The infrastructure every feature shares: one cleanup context per resource."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

from aiohttp import ClientSession, ClientTimeout, web
from redis.asyncio import BlockingConnectionPool, Redis

from chatbot import keys
from chatbot.backends.broker import Broker, MemoryBroker
from chatbot.backends.cache import Cache, MemoryCache, RedisCache
from chatbot.backends.ratelimit import RateLimiter
from chatbot.backends.redis_broker import RedisBroker
from chatbot.config import Settings, mask_url
from chatbot.health.probes import describe_exception, probe_database, probe_redis
from chatbot.http.outbound import guarded_connector
from chatbot.metrics import metrics_of
from chatbot.storage.engine import create_engine
from chatbot.storage.migrations import migrate

log = logging.getLogger(__name__)


class StartupError(Exception):
    """A dependency is unreachable at start; the message is the one line to print."""


# Enough for a burst of visitors connecting at once; beyond it callers wait for a connection
# (up to the timeout) instead of failing with "Too many connections".
REDIS_MAX_CONNECTIONS = 256


def _redis_client(settings: Settings) -> Redis:
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=REDIS_MAX_CONNECTIONS,
        timeout=max(settings.dependency_timeout_seconds, 5.0),
        socket_connect_timeout=settings.dependency_timeout_seconds,
        socket_timeout=max(settings.dependency_timeout_seconds, 5.0),
        health_check_interval=15,
    )
    return Redis.from_pool(pool)


async def _open_redis(settings: Settings) -> Redis:
    client = _redis_client(settings)
    problem = await probe_redis(client, settings.startup_timeout_seconds)
    if problem is not None:
        await client.aclose()
        raise StartupError(
            f"cannot reach Redis at {mask_url(settings.redis_url)} ({problem}): start it, fix "
            "CHATBOT_REDIS_URL, or leave it empty to run one instance on in-process backends"
        )
    return client


async def database_context(app: web.Application) -> AsyncIterator[None]:
    """The engine, its database reachable and migrated."""
    settings = app[keys.SETTINGS]
    engine = create_engine(settings.database_url, connect_timeout=settings.startup_timeout_seconds)
    try:
        problem = await probe_database(engine, settings.startup_timeout_seconds)
        if problem is not None:
            raise StartupError(
                f"cannot reach the database at {mask_url(settings.database_url)} ({problem}): "
                "start it or fix CHATBOT_DATABASE_URL, then run `chatbot check`"
            )
        try:
            async with asyncio.timeout(60):
                before, after = await migrate(engine)
        except Exception as exc:
            raise StartupError(
                f"could not migrate the database at {mask_url(settings.database_url)} "
                f"({describe_exception(exc)}): run `chatbot migrate` to see the details"
            ) from exc
        if before != after:
            log.info("database migrated from %s to %s", before or "empty", after)
        app[keys.ENGINE] = engine
        yield
    finally:
        await engine.dispose()


async def redis_context(app: web.Application) -> AsyncIterator[None]:
    """Redis (when configured), and the broker and cache over it or in this process."""
    settings = app[keys.SETTINGS]
    broker: Broker
    cache: Cache
    async with AsyncExitStack() as stack:
        if settings.redis_enabled:
            client = await _open_redis(settings)
            stack.push_async_callback(client.aclose)
            prefix = settings.redis_prefix
            broker = RedisBroker(client, prefix, on_error=metrics_of(app).broker_errors_total.inc)
            cache = RedisCache(client, f"{prefix}:cache:")
        else:
            client, broker, cache = None, MemoryBroker(), MemoryCache()
        app[keys.REDIS] = client
        app[keys.CACHE] = cache
        await broker.start()
        stack.push_async_callback(broker.close)
        app[keys.BROKER] = broker
        yield


async def rate_limiter_context(app: web.Application) -> AsyncIterator[None]:
    """The rate limiter's storage: Redis when configured, else this process's memory."""
    settings = app[keys.SETTINGS]
    limiter = RateLimiter(settings.redis_url, settings.redis_prefix)
    app[keys.RATE_LIMITER] = limiter
    try:
        yield
    finally:
        await limiter.close()


async def http_client_context(app: web.Application) -> AsyncIterator[None]:
    """The outgoing HTTP client of the brains."""
    settings = app[keys.SETTINGS]
    # It calls URLs that tenants choose (an openai brain's base_url): public addresses only.
    connector = guarded_connector(settings.brains.allow_private_base_urls)
    http_client = ClientSession(
        connector=connector, timeout=ClientTimeout(total=None, sock_connect=10)
    )
    app[keys.HTTP_CLIENT] = http_client
    try:
        yield
    finally:
        await http_client.close()


def setup_resources(app: web.Application) -> None:
    """Open the infrastructure with the app, before any feature's context (they close after)."""
    app.cleanup_ctx.extend(
        (database_context, redis_context, rate_limiter_context, http_client_context)
    )
