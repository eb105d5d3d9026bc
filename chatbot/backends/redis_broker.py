"""Redis pub/sub broker: reconnects by itself and tells its listeners when delivery resumes."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from contextlib import suppress

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from chatbot.backends.broker import BrokerListener

log = logging.getLogger(__name__)

_INSTANCE_TAG_BYTES = 8
_MAX_BACKOFF = 2.0


class RedisBroker:
    """Delivers locally at once and to other instances through Redis.

    Each payload sent to Redis is prefixed with this instance's tag so that the instance drops
    its own echo: local subscribers get every event exactly once, even while Redis is down.
    """

    def __init__(
        self,
        client: Redis,
        prefix: str = "chatbot",
        on_error: Callable[[], None] | None = None,
    ) -> None:
        self._client = client
        self._on_error = on_error  # counts failures for the metrics; must not block
        # Channels are namespaced so that several deployments (or test runs) can share a server.
        self._namespace = f"{prefix}:"
        self._control_channel = f"{prefix}:control"
        self._tag = os.urandom(_INSTANCE_TAG_BYTES)
        self._listeners: list[BrokerListener] = []
        self._channels: set[str] = set()
        self._pubsub: PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self._healthy = False
        self._connected = asyncio.Event()

    @property
    def healthy(self) -> bool:
        return self._healthy

    def listen(self, listener: BrokerListener) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.create_task(self._run(), name="redis-broker")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        await self._drop_pubsub()

    async def publish(self, channel: str, payload: bytes) -> None:
        if channel in self._channels:
            for listener in self._listeners:
                listener.on_message(channel, payload)
        try:
            await self._client.publish(self._namespace + channel, self._tag + payload)
        except (RedisError, OSError) as exc:
            self._mark_lost(exc)

    async def subscribe(self, channel: str) -> None:
        if channel in self._channels:
            return
        self._channels.add(channel)
        if self._pubsub is not None and self._healthy:
            try:
                await self._pubsub.subscribe(self._namespace + channel)
            except (RedisError, OSError) as exc:
                self._mark_lost(exc)

    async def unsubscribe(self, channel: str) -> None:
        if channel not in self._channels:
            return
        self._channels.discard(channel)
        if self._pubsub is not None and self._healthy:
            try:
                await self._pubsub.unsubscribe(self._namespace + channel)
            except (RedisError, OSError) as exc:
                self._mark_lost(exc)

    async def _connect(self) -> None:
        await self._drop_pubsub()
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(
            self._control_channel, *(self._namespace + channel for channel in self._channels)
        )
        self._pubsub = pubsub
        self._healthy = True

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with suppress(RedisError, OSError):
                # Typed from redis 8.2 on, untyped before: the ignore must hold for both.
                await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]

    def _mark_lost(self, exc: BaseException) -> None:
        if self._on_error is not None:
            self._on_error()
        if self._healthy:
            log.warning("redis pub/sub lost (%s): delivering locally until it returns", exc)
        self._healthy = False

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            if not self._healthy or self._pubsub is None:
                try:
                    await self._connect()
                except (RedisError, OSError):
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, _MAX_BACKOFF)
                    continue
                backoff = 0.1
                log.warning("redis pub/sub is back: asking local sockets to resume")
                for listener in self._listeners:
                    listener.on_reconnect()
            try:
                message = await self._pubsub.get_message(timeout=1.0)  # type: ignore[union-attr]
            except (RedisError, OSError) as exc:
                self._mark_lost(exc)
                continue
            if message is None or message.get("type") != "message":
                continue
            data: bytes = message["data"]
            if data[:_INSTANCE_TAG_BYTES] == self._tag:
                continue
            channel = message["channel"]
            name = (channel.decode() if isinstance(channel, bytes) else channel).removeprefix(
                self._namespace
            )
            for listener in self._listeners:
                listener.on_message(name, data[_INSTANCE_TAG_BYTES:])
