"""Rate limiting with moving windows: in Redis over the `limits` library, or in this process.

Policy when Redis fails at run time: count per process (never unlimited, never an error),
report `degraded`, and return to shared counting as soon as Redis answers again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage, Storage
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


# A decision before it is dressed as a RateDecision: allowed, remaining, seconds to reset.
_Outcome = tuple[bool, int, float]


class MemoryWindows:
    """Moving windows counted in this process: each key's hit times within its window.

    A key's old hits are dropped at its next hit. Keys are kept in the order of their last
    hit, and the least recently hit keys whose window has passed are forgotten at each hit
    (up to the first one still in its window), so no timer or task is needed.
    """

    __slots__ = ("_keys",)

    def __init__(self) -> None:
        self._keys: dict[tuple[str, ...], tuple[deque[float], float]] = {}

    def __len__(self) -> int:
        """The keys held: those hit within their window, and passed ones not yet reached (a
        passed key is forgotten once every key hit before it has passed too)."""
        return len(self._keys)

    def decide(self, item: RateLimitItem, key: tuple[str, ...], *, count: bool) -> _Outcome:
        now = time.monotonic()
        window = float(item.get_expiry())
        known = self._keys.pop(key, None)  # put back last: the order of last hits
        hits = deque[float]() if known is None else known[0]
        while hits and hits[0] <= now - window:
            hits.popleft()
        allowed = len(hits) < item.amount
        if allowed and count:
            hits.append(now)
        if hits:
            self._keys[key] = (hits, window)
        self._forget_passed(now)
        reset_after = hits[0] + window - now if hits else 0.0
        return allowed, max(0, item.amount - len(hits)), reset_after

    def _forget_passed(self, now: float) -> None:
        keys = self._keys
        while keys:
            oldest = next(iter(keys))
            hits, window = keys[oldest]
            if hits[-1] > now - window:
                return
            del keys[oldest]


class RateLimiter:
    """Counts hits per (policy, key) and says whether each is allowed."""

    def __init__(self, redis_url: str = "", prefix: str = "chatbot") -> None:
        self._memory = MemoryWindows()
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
        if self._redis is None or self._degraded:
            allowed, remaining, reset_after = self._memory.decide(item, (rate, *key), count=count)
        else:
            try:
                allowed, remaining, reset_after = await self._shared(self._redis, item, key, count)
            except Exception as exc:
                self._fall_back(exc)
                return await self._decide(rate, key, count=count)
        window = item.get_expiry()
        return RateDecision(
            allowed=allowed,
            limit=item.amount,
            remaining=remaining,
            reset_after=max(0, min(math.ceil(reset_after) if not allowed else 0, window)),
            window=window,
        )

    @staticmethod
    async def _shared(
        limiter: MovingWindowRateLimiter, item: RateLimitItem, key: tuple[str, ...], count: bool
    ) -> _Outcome:
        if count:
            allowed = await limiter.hit(item, *key)
        else:
            allowed = await limiter.test(item, *key)
        stats = await limiter.get_window_stats(item, *key)
        return allowed, stats.remaining, stats.reset_time - time.time()

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
