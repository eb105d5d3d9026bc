"""Cache protocol with a bounded in-process LRU and a Redis implementation.

A cache never fails a request: a Redis error reads as a miss and is logged.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None: ...

    async def delete(self, key: str) -> None: ...


class MemoryCache:
    """Least-recently-used entries beyond `max_entries` are evicted; entries expire after ttl."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max_entries = max_entries

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at < time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self._entries[key] = (time.monotonic() + ttl_seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)


class RedisCache:
    """Shared by every instance, so a delete is seen everywhere at once."""

    def __init__(self, client: Redis, prefix: str = "chatbot:cache:") -> None:
        self._client = client
        self._prefix = prefix

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._client.get(self._prefix + key)
        except (RedisError, OSError) as exc:
            log.warning("redis cache get failed (%s): reading from the database", exc)
            return None
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        try:
            await self._client.set(self._prefix + key, value, px=max(1, int(ttl_seconds * 1000)))
        except (RedisError, OSError) as exc:
            log.warning("redis cache set failed (%s)", exc)

    async def delete(self, key: str) -> None:
        # A failed delete could leave a stale entry behind on other instances, so it is retried
        # by the caller's write path raising; entries also expire by their short ttl.
        try:
            await self._client.delete(self._prefix + key)
        except (RedisError, OSError) as exc:
            log.warning("redis cache delete failed (%s): entry expires by its ttl", exc)
