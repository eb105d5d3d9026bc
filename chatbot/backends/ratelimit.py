"""Rate limiting over the `limits` library: moving windows in memory or in Redis.

Policy when Redis fails at run time: count per process (never unlimited, never an error),
report `degraded`, and return to shared counting as soon as Redis answers again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import ConnectionPool

log = logging.getLogger(__name__)

_PROBE_INTERVAL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The outcome of one hit, with what the RateLimit headers need."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the window has room again
    window: int  # the policy's window in seconds

    @property
    def retry_after(self) -> int:
        return max(1, self.reset_after)


@lru_cache(maxsize=64)
def parse_rate(rate: str) -> RateLimitItem:
    return parse(rate)


class RateLimiter:
    """Counts hits per (policy, key) and says whether each is allowed."""

    def __init__(self, redis_url: str = "", prefix: str = "chatbot") -> None:
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        self._redis: MovingWindowRateLimiter | None = None
        self._redis_storage: Storage | None = None
        self._pool: ConnectionPool | None = None
        if redis_url:
            # Our own pool, so that close() can release its connections.
            self._pool = ConnectionPool.from_url(
                redis_url, socket_connect_timeout=1, socket_timeout=1
            )
            self._redis_storage = RedisStorage(
                "async+" + redis_url,
                implementation="redispy",
                wrap_exceptions=True,
                key_prefix=f"{prefix}:limits",
                connection_pool=self._pool,  # type: ignore[arg-type]
            )
            self._redis = MovingWindowRateLimiter(self._redis_storage)
        self._degraded = False
        self._probe: asyncio.Task[None] | None = None

    @property
    def status(self) -> str:
        """`disabled` (memory only), `ok` (shared in Redis) or `degraded` (fallen back)."""
        if self._redis is None:
            return "disabled"
        return "degraded" if self._degraded else "ok"

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with suppress(asyncio.CancelledError):
                await self._probe
        if self._pool is not None:
            await self._pool.aclose()

    async def hit(self, rate: str, *key: str) -> RateDecision:
        """Count one hit of `key`; the decision says whether it was allowed."""
        return await self._decide(rate, key, count=True)

    async def peek(self, rate: str, *key: str) -> RateDecision:
        """Whether a hit of `key` would be allowed now, without counting one."""
        return await self._decide(rate, key, count=False)

    async def _decide(self, rate: str, key: tuple[str, ...], *, count: bool) -> RateDecision:
        item = parse_rate(rate)
        limiter = self._memory if self._redis is None or self._degraded else self._redis
        try:
            if count:
                allowed = await limiter.hit(item, *key)
            else:
                allowed = await limiter.test(item, *key)
            stats = await limiter.get_window_stats(item, *key)
        except Exception as exc:
            if limiter is self._memory:
                raise
            self._fall_back(exc)
            return await self._decide(rate, key, count=count)
        window = item.get_expiry()
        reset_after = math.ceil(stats.reset_time - time.time()) if not allowed else 0
        return RateDecision(
            allowed=allowed,
            limit=item.amount,
            remaining=stats.remaining,
            reset_after=max(0, min(reset_after, window)),
            window=window,
        )

    def _fall_back(self, exc: BaseException) -> None:
        if not self._degraded:
            log.warning(
                "rate limiting: redis unreachable (%s); counting per process until it returns",
                exc,
            )
        self._degraded = True
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._wait_for_redis(), name="ratelimit-probe")

    async def _wait_for_redis(self) -> None:
        assert self._redis_storage is not None
        while True:
            await asyncio.sleep(_PROBE_INTERVAL_SECONDS)
            try:
                back = await self._redis_storage.check()
            except Exception:
                back = False
            if back:
                log.warning("rate limiting: redis is back; counting is shared again")
                self._degraded = False
                return
