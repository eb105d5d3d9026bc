"""Password hashing with argon2id (OWASP parameters), always off the event loop."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

log = logging.getLogger(__name__)
T = TypeVar("T")

# OWASP Password Storage Cheat Sheet: argon2id, 19 MiB of memory, 2 iterations, 1 lane.
OWASP_TIME_COST = 2
OWASP_MEMORY_COST_KIB = 19_456
OWASP_PARALLELISM = 1
# Hashing has threads of its own, so that no other blocking work queued in the default
# executor can make logins wait; argon2 releases the GIL, and two hash at once on two cores.
HASHING_THREADS = 2


class Passwords:
    """Hashes and verifies passwords in threads of its own; one per app, closed with it."""

    def __init__(
        self,
        *,
        time_cost: int = OWASP_TIME_COST,
        memory_cost: int = OWASP_MEMORY_COST_KIB,
        parallelism: int = OWASP_PARALLELISM,
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self._dummy_hash: str | None = None
        self._threads = ThreadPoolExecutor(HASHING_THREADS, thread_name_prefix="passwords")

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def _in_thread(self, function: Callable[..., T], *args: str) -> T:
        # Like asyncio.to_thread, the request's context (its id, for log lines) goes along.
        call = functools.partial(contextvars.copy_context().run, function, *args)
        return await asyncio.get_running_loop().run_in_executor(self._threads, call)

    async def hash(self, password: str) -> str:
        return await self._in_thread(self._hasher.hash, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except InvalidHashError:
            log.error("a stored password hash is not an argon2 hash; that login always fails")
            return False
        except VerificationError:
            return False

    async def verify(self, password_hash: str, password: str) -> bool:
        return await self._in_thread(self._verify, password_hash, password)

    async def verify_unknown(self, password: str) -> bool:
        """Spend the time a real verification takes, for an account that does not exist.

        Login then answers an unknown email and a wrong password alike, in time as in body.
        """
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_urlsafe(24))
        await self.verify(self._dummy_hash, password)
        return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True for hashes made with other parameters; login upgrades them."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return False
