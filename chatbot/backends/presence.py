"""Who has an operator socket open, across instances: in-process, or in Redis with a TTL.

Each instance reports only the transitions of its own users (first local socket, last local
socket) and refreshes its entries with a heartbeat. In Redis an instance that dies stops
refreshing: its entries expire after the TTL, and the next sweep, on any live instance, reports
the users it left offline, each once.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from redis.asyncio import Redis


class PresenceStore(Protocol):
    async def arrive(self, user_id: str) -> bool:
        """This instance has the user's first local socket; True if the user was offline."""

    async def leave(self, user_id: str) -> bool:
        """This instance closed the user's last local socket; True if they are now offline."""

    async def refresh(self, user_ids: Collection[str]) -> list[str]:
        """Keep this instance's users online; returns those a sweep had reported offline."""

    async def sweep(self) -> list[str]:
        """The users whose entries expired and who are offline now (reported once)."""

    async def online(self, user_ids: Sequence[str]) -> set[str]:
        """Which of these users are online on any instance."""


class MemoryPresence:
    """One instance: its own sockets are all there is."""

    def __init__(self) -> None:
        self._online: set[str] = set()

    async def arrive(self, user_id: str) -> bool:
        was_offline = user_id not in self._online
        self._online.add(user_id)
        return was_offline

    async def leave(self, user_id: str) -> bool:
        was_online = user_id in self._online
        self._online.discard(user_id)
        return was_online

    async def refresh(self, user_ids: Collection[str]) -> list[str]:
        return []

    async def sweep(self) -> list[str]:
        return []

    async def online(self, user_ids: Sequence[str]) -> set[str]:
        return {user_id for user_id in user_ids if user_id in self._online}


# Times are Redis's own clock (milliseconds), so that instances' clocks need not agree. A user's
# sorted set holds the instances that have them online, scored by when each entry expires; the
# entries set holds "user instance" for the sweep. The sweep reads users' sets named in the
# entries (fine on one Redis server, not on a Redis Cluster).
_NOW = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "

_ARRIVE = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local before = redis.call('ZCARD', KEYS[1])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then before = before - 1 end
local expires = now + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], expires, ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[3]))
redis.call('ZADD', KEYS[2], expires, ARGV[2] .. ' ' .. ARGV[1])
if before == 0 then return 1 end
return 0
"""
)

_LEAVE = (
    _NOW
    + """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[2] .. ' ' .. ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) == 0 then return 1 end
return 0
"""
)

# ARGV: instance, ttl, prefix of users' keys, then the user ids; returns those that were gone.
_REFRESH = (
    _NOW
    + """
local expires = now + tonumber(ARGV[2])
local back = {}
for i = 4, #ARGV do
  local key = ARGV[3] .. ARGV[i]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local others = redis.call('ZCARD', key)
  local mine = redis.call('ZSCORE', key, ARGV[1])
  if mine then others = others - 1 end
  if not mine and others == 0 then table.insert(back, ARGV[i]) end
  redis.call('ZADD', key, expires, ARGV[1])
  redis.call('PEXPIRE', key, 2 * tonumber(ARGV[2]))
  redis.call('ZADD', KEYS[1], expires, ARGV[i] .. ' ' .. ARGV[1])
end
return back
"""
)

# ARGV: prefix of users' keys, batch size.
_SWEEP = (
    _NOW
    + """
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local offline = {}
for _, entry in ipairs(dead) do
  redis.call('ZREM', KEYS[1], entry)
  local space = string.find(entry, ' ', 1, true)
  if space then
    local user = string.sub(entry, 1, space - 1)
    local key = ARGV[1] .. user
    redis.call('ZREM', key, string.sub(entry, space + 1))
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    if redis.call('ZCARD', key) == 0 then table.insert(offline, user) end
  end
end
return offline
"""
)

_ONLINE = (
    _NOW
    + """
local online = {}
for i = 1, #KEYS do
  if redis.call('ZCOUNT', KEYS[i], '(' .. now, '+inf') > 0 then table.insert(online, i) end
end
return online
"""
)

SWEEP_BATCH = 500


class RedisPresence:
    """Shared by every instance; entries live `ttl_seconds` unless refreshed."""

    def __init__(self, client: Redis, prefix: str, instance: str, ttl_seconds: float) -> None:
        self._instance = instance
        self._ttl_ms = max(1, int(ttl_seconds * 1000))
        self._users = f"{prefix}:presence:user:"
        self._entries = f"{prefix}:presence:entries"
        self._arrive = client.register_script(_ARRIVE)
        self._leave = client.register_script(_LEAVE)
        self._refresh = client.register_script(_REFRESH)
        self._sweep = client.register_script(_SWEEP)
        self._online = client.register_script(_ONLINE)

    async def arrive(self, user_id: str) -> bool:
        keys = [self._users + user_id, self._entries]
        return bool(await self._arrive(keys=keys, args=[self._instance, user_id, self._ttl_ms]))

    async def leave(self, user_id: str) -> bool:
        keys = [self._users + user_id, self._entries]
        return bool(await self._leave(keys=keys, args=[self._instance, user_id]))

    async def refresh(self, user_ids: Collection[str]) -> list[str]:
        if not user_ids:
            return []
        args: list[str | int] = [self._instance, self._ttl_ms, self._users, *user_ids]
        return _texts(await self._refresh(keys=[self._entries], args=args))

    async def sweep(self) -> list[str]:
        return _texts(await self._sweep(keys=[self._entries], args=[self._users, SWEEP_BATCH]))

    async def online(self, user_ids: Sequence[str]) -> set[str]:
        if not user_ids:
            return set()
        found = await self._online(keys=[self._users + user_id for user_id in user_ids])
        return {user_ids[int(index) - 1] for index in found}


def _texts(values: list[bytes | str]) -> list[str]:
    return [value.decode() if isinstance(value, bytes) else value for value in values]
