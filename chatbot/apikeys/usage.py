"""When each key was last used: noted on the hot path, written in the background.

A key's use is written at most once a minute per instance, and never by the request that used
it: the request only notes it in memory, and one task writes what was noted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from datetime import datetime

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.apikeys.repository import record_last_used
from chatbot.storage.values import utcnow

log = logging.getLogger(__name__)

WRITE_INTERVAL_SECONDS = 60.0


class LastUsedRecorder:
    """Notes key uses and writes them, one statement for all the keys noted meanwhile."""

    def __init__(self, engine: AsyncEngine, interval: float = WRITE_INTERVAL_SECONDS) -> None:
        self._engine = engine
        self._interval = interval
        self._noted_at: dict[str, float] = {}  # monotonic time of each key's last noted use
        self._pending: dict[str, datetime] = {}
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="api-key-last-used")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        await self._write()

    def used(self, key_id: str) -> None:
        """Note a use of the key; cheap, and a no-op within a minute of the last noted use."""
        now = time.monotonic()
        if now - self._noted_at.get(key_id, -self._interval) < self._interval:
            return
        self._noted_at[key_id] = now
        self._pending[key_id] = utcnow()
        self._wakeup.set()

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            await self._write()
            self._forget_old()

    async def _write(self) -> None:
        pending, self._pending = self._pending, {}
        try:
            await record_last_used(self._engine, pending)
        except Exception as exc:  # the database is down: the next use a minute on notes it again
            log.warning("could not record when %d API keys were last used: %s", len(pending), exc)

    def _forget_old(self) -> None:
        # Keys not used for a minute need no entry: the set stays as small as the keys in use.
        horizon = time.monotonic() - self._interval
        for key_id in [k for k, at in self._noted_at.items() if at <= horizon]:
            del self._noted_at[key_id]


API_KEY_USAGE = web.AppKey("api_key_usage", LastUsedRecorder)
