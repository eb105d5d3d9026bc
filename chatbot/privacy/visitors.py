"""A visitor's data: everything stored about them exported, or erased everywhere.

A visitor is named by `visitor_id` (see `storage.values.visitor_id_of`), per chatbot.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatbot import keys
from chatbot.chat.service import CHAT
from chatbot.conversations.repository import messages_after
from chatbot.storage.schema import (
    conversations,
    erased_conversations,
    messages,
    webhook_deliveries,
)
from chatbot.storage.values import VISITOR_ID_LENGTH, iso, utcnow
from chatbot.webhooks.events import VISITOR_ERASED, Row, as_values, erased_data, event_rows
from chatbot.webhooks.subscriptions import WEBHOOKS

VISITOR_ID_PATTERN = f"^[0-9a-f]{{{VISITOR_ID_LENGTH}}}$"
_VISITOR_ID = re.compile(VISITOR_ID_PATTERN)


def is_visitor_id(text: str) -> bool:
    return _VISITOR_ID.fullmatch(text) is not None


async def _conversation_rows(
    connection: AsyncConnection, chatbot_id: str, visitor_id: str
) -> list[Any]:
    c = conversations.c
    query = (
        select(conversations)
        .where(c.chatbot_id == chatbot_id, c.visitor_id == visitor_id)
        .order_by(c.started_at, c.id)
    )
    return list(await connection.execute(query))


async def export_visitor(
    engine: AsyncEngine, chatbot_id: str, visitor_id: str
) -> dict[str, Any] | None:
    """The visitor's conversations of this chatbot with all their messages; None if unknown."""
    async with engine.connect() as connection:
        rows = await _conversation_rows(connection, chatbot_id, visitor_id)
        if not rows:
            return None
        exported = []
        for row in rows:
            history = await messages_after(connection, row.id)
            exported.append(
                {
                    "id": row.id,
                    "chatbot_id": row.chatbot_id,
                    "visitor_id": row.visitor_id,
                    "status": row.status,
                    "started_at": iso(row.started_at),
                    "last_message_at": iso(row.last_message_at),
                    "last_seq": row.last_seq,
                    "handed_off": bool(row.handed_off),
                    "user_id": row.user_id,
                    "visitor_data": dict(row.visitor_data or {}),
                    "messages": [message.as_json() for message in history],
                }
            )
    return {
        "visitor_id": visitor_id,
        # The verified user behind the visitor's latest conversation, if any.
        "user_id": next((row.user_id for row in reversed(rows) if row.user_id), None),
        "exported_at": iso(utcnow()),
        "conversations": exported,
    }


async def delete_conversations(
    connection: AsyncConnection, conversation_ids: Sequence[str], *, erased: bool
) -> None:
    """Delete these conversations and their messages in the connection's transaction;
    `erased` also records their ids, so that their visitor tokens start new conversations."""
    if not conversation_ids:
        return
    ids = list(conversation_ids)
    await connection.execute(delete(messages).where(messages.c.conversation_id.in_(ids)))
    await connection.execute(delete(conversations).where(conversations.c.id.in_(ids)))
    if erased:
        now = utcnow()
        await connection.execute(
            insert(erased_conversations), [{"id": i, "erased_at": now} for i in ids]
        )


async def erase_visitor(
    app: web.Application, chatbot_id: str, tenant_id: str, visitor_id: str
) -> int:
    """Delete the visitor's conversations of this chatbot with their messages and identity
    data, with the `visitor.erased` event of the workspace's webhooks subscribed to it in the
    same transaction, then make every instance forget them (their sockets close); returns how
    many."""
    subscriptions = app[WEBHOOKS]
    hooks = await subscriptions.hooks(tenant_id)
    async with app[keys.ENGINE].begin() as connection:
        c = conversations.c
        found = await connection.scalars(
            select(c.id).where(c.chatbot_id == chatbot_id, c.visitor_id == visitor_id)
        )
        ids = list(found)
        await delete_conversations(connection, ids, erased=True)
        rows: list[Row] = []
        if ids:
            now = utcnow()
            data = erased_data(chatbot_id, tenant_id, visitor_id, ids, now)
            rows = event_rows(hooks, VISITOR_ERASED, data, now)
        if rows:
            await connection.execute(insert(webhook_deliveries), as_values(rows))
    if rows:
        subscriptions.written()
    await app[CHAT].hub.erase(tenant_id, ids)
    return len(ids)
