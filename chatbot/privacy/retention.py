"""Retention: conversations whose last message is older than their chatbot's `retention_days`
are deleted, in small transactions so that the chat keeps writing in between."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.privacy.visitors import delete_conversations
from chatbot.storage.schema import chatbots, conversations
from chatbot.storage.values import utcnow

# Called after each committed batch with the chatbot's workspace and the deleted ids.
OnPurged = Callable[[str, Sequence[str]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Kept:
    chatbot_id: str
    workspace_id: str
    retention_days: int


async def _chatbots_with_retention(engine: AsyncEngine) -> list[_Kept]:
    c = chatbots.c
    query = select(c.id, c.workspace_id, c.retention_days).where(c.retention_days.is_not(None))
    async with engine.connect() as connection:
        rows = await connection.execute(query)
        return [_Kept(row.id, row.workspace_id, row.retention_days) for row in rows]


async def _purge_chatbot(
    engine: AsyncEngine, kept: _Kept, now: datetime, batch_size: int, on_purged: OnPurged | None
) -> int:
    c = conversations.c
    cutoff = now - timedelta(days=kept.retention_days)
    expired = or_(
        c.last_message_at < cutoff, and_(c.last_message_at.is_(None), c.started_at < cutoff)
    )
    query = select(c.id).where(c.chatbot_id == kept.chatbot_id, expired).limit(batch_size)
    purged = 0
    while True:
        async with engine.begin() as connection:
            ids = list(await connection.scalars(query))
            await delete_conversations(connection, ids, erased=False)
        if not ids:
            return purged
        purged += len(ids)
        if on_purged is not None:
            await on_purged(kept.workspace_id, ids)
        if len(ids) < batch_size:
            return purged
        await asyncio.sleep(0)  # let the chat's own work run between batches


async def purge_expired(
    engine: AsyncEngine,
    *,
    batch_size: int,
    now: datetime | None = None,
    on_purged: OnPurged | None = None,
) -> int:
    """Delete every chatbot's expired conversations (as of `now`); returns how many."""
    now = now or utcnow()
    total = 0
    for kept in await _chatbots_with_retention(engine):
        total += await _purge_chatbot(engine, kept, now, batch_size, on_purged)
    return total
