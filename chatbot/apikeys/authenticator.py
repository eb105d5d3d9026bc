"""Checking an API key on every request without a database round trip.

Each instance remembers the keys it has seen for a short while (an in-process memo in front of
the app's cache, itself in front of the database). Deleting a key drops it from the shared
cache and tells every instance through the broker, which forget it and refuse it from then on,
even if a lookup that started before the delete puts it back in the cache.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from aiohttp import web

from chatbot import keys
from chatbot.apikeys import repository
from chatbot.apikeys.key_material import MAX_KEY_LENGTH, is_api_key, key_digest
from chatbot.apikeys.usage import API_KEY_USAGE
from chatbot.backends.broker import Broker
from chatbot.backends.cache import Cache
from chatbot.errors import NotAuthenticated
from chatbot.ratelimit.check import enforce_rate
from chatbot.workspaces.principal import PRINCIPAL, Principal
from chatbot.workspaces.roles import Role

REVOKED_CHANNEL = "api-keys:revoked"
# How long an instance trusts what it remembers of a key without asking the cache again. A
# delete reaches every instance through the broker at once; the ttl only bounds what a broker
# outage could leave behind.
MEMO_TTL_SECONDS = 30.0
CACHE_TTL_SECONDS = 60.0
MEMO_MAX_ENTRIES = 10_000
# A deleted key stays refused here for longer than any cache entry can outlive its delete.
REVOKED_MEMORY_SECONDS = CACHE_TTL_SECONDS + MEMO_TTL_SECONDS
_UNKNOWN = b"-"
_SEPARATOR = " "


@dataclass(frozen=True, slots=True)
class ApiKeyPrincipal:
    """Who made the request when it came with an API key: an admin of that one workspace."""

    key_id: str
    workspace_id: str


API_KEY = web.RequestKey("api_key", ApiKeyPrincipal)


def _cache_key(digest: str) -> str:
    return f"apikey:{digest}"


def _encode(identity: ApiKeyPrincipal | None) -> bytes:
    if identity is None:
        return _UNKNOWN
    return f"{identity.key_id}{_SEPARATOR}{identity.workspace_id}".encode()


def _decode(raw: bytes) -> ApiKeyPrincipal | bool | None:
    """The identity, None for a key known not to exist, False for an unreadable entry."""
    if raw == _UNKNOWN:
        return None
    key_id, _, workspace_id = raw.decode(errors="replace").partition(_SEPARATOR)
    if not key_id or not workspace_id:
        return False
    return ApiKeyPrincipal(key_id, workspace_id)


class KeyAuthenticator:
    """Finds the key behind a bearer value; listens on the broker for deleted keys."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._cache: Cache = app[keys.CACHE]
        self._broker: Broker = app[keys.BROKER]
        self._memo: OrderedDict[str, tuple[float, ApiKeyPrincipal | None]] = OrderedDict()
        self._revoked: dict[str, float] = {}

    async def start(self) -> None:
        self._broker.listen(self)
        await self._broker.subscribe(REVOKED_CHANNEL)

    def recognises(self, token: str) -> bool:
        """Whether a bearer value is meant as an API key rather than an access token."""
        return is_api_key(token)

    async def authenticate(self, request: web.Request, key: str) -> None:
        """Make the request act as an admin of the key's workspace, within the key's rate
        limit; NotAuthenticated for a key that does not exist (or no longer does)."""
        principal = await self.identify(key)
        if principal is None:
            raise NotAuthenticated(
                "this API key is not valid: it was deleted, or mistyped", code="invalid_api_key"
            )
        await enforce_rate(self._app, "per_api_key", principal.key_id)
        self._app[API_KEY_USAGE].used(principal.key_id)
        request[API_KEY] = principal
        request[PRINCIPAL] = Principal.bound(principal.workspace_id, Role.ADMIN)

    async def identify(self, key: str) -> ApiKeyPrincipal | None:
        """The key's identity, or None when no such key exists (or it was deleted)."""
        if len(key) > MAX_KEY_LENGTH:
            return None
        digest = key_digest(key)
        now = time.monotonic()
        if self._is_revoked(digest, now):
            return None
        memo = self._memo.get(digest)
        if memo is not None and memo[0] > now:
            self._memo.move_to_end(digest)
            return memo[1]
        identity = await self._lookup(digest)
        if self._is_revoked(digest, time.monotonic()):  # deleted while we looked it up
            return None
        self._remember(digest, identity, now)
        return identity

    async def key_deleted(self, key_hash: str) -> None:
        """After a key's row is deleted: refuse it on every instance from now on."""
        await self._cache.delete(_cache_key(key_hash))
        await self._broker.publish(REVOKED_CHANNEL, key_hash.encode())

    def on_message(self, channel: str, payload: bytes) -> None:
        if channel != REVOKED_CHANNEL:
            return
        digest = payload.decode(errors="replace")
        self._memo.pop(digest, None)
        now = time.monotonic()
        self._revoked[digest] = now + REVOKED_MEMORY_SECONDS
        # Pruned as they are added, so the set stays as small as the recent deletes.
        for stale in [d for d, until in self._revoked.items() if until <= now]:
            del self._revoked[stale]

    def on_reconnect(self) -> None:
        # Deletes may have been missed while the broker was away: ask the cache again.
        self._memo.clear()

    def _is_revoked(self, digest: str, now: float) -> bool:
        until = self._revoked.get(digest)
        return until is not None and until > now

    async def _lookup(self, digest: str) -> ApiKeyPrincipal | None:
        raw = await self._cache.get(_cache_key(digest))
        if raw is not None:
            cached = _decode(raw)
            if cached is not False:
                return cached if isinstance(cached, ApiKeyPrincipal) else None
        record = await repository.key_by_hash(self._app[keys.ENGINE], digest)
        identity = None if record is None else ApiKeyPrincipal(record.id, record.workspace_id)
        await self._cache.set(_cache_key(digest), _encode(identity), CACHE_TTL_SECONDS)
        return identity

    def _remember(self, digest: str, identity: ApiKeyPrincipal | None, now: float) -> None:
        self._memo[digest] = (now + MEMO_TTL_SECONDS, identity)
        self._memo.move_to_end(digest)
        while len(self._memo) > MEMO_MAX_ENTRIES:
            self._memo.popitem(last=False)


API_KEYS = web.AppKey("api_keys", KeyAuthenticator)
