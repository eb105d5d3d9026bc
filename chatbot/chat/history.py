"""Reads of stored messages for resume, gap filling and resync after a broker outage."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.conversations.message import MessageView
from chatbot.conversations.repository import message_view, messages_after
from chatbot.storage.schema import chatbots, conversations, messages

PAGE_SIZE = 500
# A resync after an outage replays at most this many messages to one operator socket; a
# dashboard that missed more reloads its lists from the REST API (it gets a `resynced` frame).
RESYNC_LIMIT = 2000


class ChatHistory:
    """Stored messages, read in pages."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def last_seq(self, conversation_id: str) -> int | None:
        """The conversation's last stored seq, or None when it does not exist."""
        async with self._engine.connect() as connection:
            value = await connection.scalar(
                select(conversations.c.last_seq).where(conversations.c.id == conversation_id)
            )
        return None if value is None else int(value)

    async def page(
        self, conversation_id: str, after: int, upto: int | None = None
    ) -> list[MessageView]:
        """Up to PAGE_SIZE messages with after < seq (<= upto), in seq order."""
        async with self._engine.connect() as connection:
            page = await messages_after(connection, conversation_id, after, limit=PAGE_SIZE)
        return page if upto is None else [message for message in page if message.seq <= upto]

    async def before(self, conversation_id: str, seq: int, count: int) -> list[MessageView]:
        """The `count` messages before `seq`, oldest first: the bot's view of the conversation."""
        query = (
            select(messages)
            .where(messages.c.conversation_id == conversation_id, messages.c.seq < seq)
            .order_by(messages.c.seq.desc())
            .limit(count)
        )
        async with self._engine.connect() as connection:
            rows = list(await connection.execute(query))
        return [message_view(row) for row in reversed(rows)]

    async def tenant_messages_since(
        self, workspace_ids: Collection[str], since: datetime
    ) -> list[MessageView]:
        """Messages stored since `since` in conversations of these workspaces' chatbots, oldest
        first."""
        query = (
            select(messages)
            .join(conversations, conversations.c.id == messages.c.conversation_id)
            .join(chatbots, chatbots.c.id == conversations.c.chatbot_id)
            .where(
                chatbots.c.workspace_id.in_(list(workspace_ids)),
                conversations.c.last_message_at >= since,
                messages.c.created_at >= since,
            )
            .order_by(messages.c.created_at, messages.c.conversation_id, messages.c.seq)
            .limit(RESYNC_LIMIT)
        )
        async with self._engine.connect() as connection:
            return [message_view(row) for row in await connection.execute(query)]
