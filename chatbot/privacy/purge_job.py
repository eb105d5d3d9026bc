"""The retention job: every `privacy.purge_interval_seconds`, on one instance at a time.

On PostgreSQL the instances share one database: the run holds a session advisory lock, and an
instance that cannot take it skips its turn. SQLite serves one instance, which simply runs it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import suppress

from aiohttp import web
from sqlalchemy import text

from chatbot import keys
from chatbot.chat.service import CHAT
from chatbot.metrics import metrics_of
from chatbot.privacy.retention import purge_expired

log = logging.getLogger(__name__)

# pg_advisory_lock's key for the retention job: any constant no other lock uses.
PURGE_LOCK_KEY = 0x63_68_61_74_70_75_72_67  # "chatpurg"
_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")


async def run_purge(app: web.Application) -> int | None:
    """Purge now unless another instance is; returns how many were deleted (None: skipped)."""
    engine = app[keys.ENGINE]
    settings = app[keys.SETTINGS].privacy
    counter = metrics_of(app).purged_conversations_total
    chat = app[CHAT]

    async def purged(tenant_id: str, ids: Sequence[str]) -> None:
        counter.inc(len(ids))
        await chat.hub.erase(tenant_id, ids)

    if engine.dialect.name != "postgresql":
        return await purge_expired(engine, batch_size=settings.purge_batch_size, on_purged=purged)
    async with engine.connect() as lock:
        locked = await lock.scalar(_TRY_LOCK, {"key": PURGE_LOCK_KEY})
        await lock.commit()
        if not locked:
            return None
        try:
            return await purge_expired(
                engine, batch_size=settings.purge_batch_size, on_purged=purged
            )
        finally:
            await lock.execute(_UNLOCK, {"key": PURGE_LOCK_KEY})
            await lock.commit()


async def _every_interval(app: web.Application) -> None:
    interval = app[keys.SETTINGS].privacy.purge_interval_seconds
    while True:
        try:
            count = await run_purge(app)
        except Exception as exc:
            log.warning("retention: purge failed, retrying in %.0f s (%s)", interval, exc)
        else:
            if count:
                log.info("retention: deleted %d expired conversations", count)
        await asyncio.sleep(interval)


async def purge_context(app: web.Application) -> AsyncIterator[None]:
    """Run the retention job while the app serves."""
    task = asyncio.create_task(_every_interval(app), name="retention-purge")
    yield
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
