"""Pure reads of conversations and messages, shared by the REST routes and the realtime chat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from chatbot.conversations.message import MessageView
from chatbot.storage.schema import chatbots, conversations, messages
from chatbot.storage.values import as_utc, iso


@dataclass(frozen=True, slots=True)
class ConversationView:
    """A conversation with its chatbot's workspace and, for the inbox, its latest message."""

    id: str
    chatbot_id: str
    workspace_id: str
    status: str
    last_seq: int
    handed_off: bool
    started_at: datetime
    last_message_at: datetime | None
    last_message: MessageView | None = None

    def as_json(self) -> dict[str, Any]:
        last = self.last_message
        return {
            "id": self.id,
            "chatbot_id": self.chatbot_id,
            "workspace_id": self.workspace_id,
            "status": self.status,
            "started_at": iso(self.started_at),
            "last_message_at": iso(self.last_message_at),
            "last_seq": self.last_seq,
            "handed_off": self.handed_off,
            "last_message": None if last is None else last.as_json(),
        }


def message_view(row: Row[Any]) -> MessageView:
    """A `messages` row as a MessageView."""
    return MessageView(
        id=row.id,
        seq=row.seq,
        conversation_id=row.conversation_id,
        role=row.role,
        text=row.text,
        client_id=row.client_id,
        created_at=as_utc(row.created_at),
    )


_CONVERSATION_COLUMNS = (
    conversations.c.id,
    conversations.c.chatbot_id,
    chatbots.c.workspace_id,
    conversations.c.status,
    conversations.c.last_seq,
    conversations.c.handed_off,
    conversations.c.started_at,
    conversations.c.last_message_at,
)


def _conversation_view(row: Any, last_message: MessageView | None = None) -> ConversationView:
    return ConversationView(
        id=row.id,
        chatbot_id=row.chatbot_id,
        workspace_id=row.workspace_id,
        status=row.status,
        last_seq=row.last_seq,
        handed_off=bool(row.handed_off),
        started_at=as_utc(row.started_at),
        last_message_at=None if row.last_message_at is None else as_utc(row.last_message_at),
        last_message=last_message,
    )


async def conversation_by_id(
    connection: AsyncConnection, conversation_id: str
) -> ConversationView | None:
    """One conversation with its chatbot's workspace (for the policy's checks), or None."""
    row = (
        await connection.execute(
            select(*_CONVERSATION_COLUMNS)
            .join(chatbots, chatbots.c.id == conversations.c.chatbot_id)
            .where(conversations.c.id == conversation_id)
        )
    ).first()
    return None if row is None else _conversation_view(row)


async def messages_after(
    connection: AsyncConnection, conversation_id: str, after: int = 0, limit: int | None = None
) -> list[MessageView]:
    """The conversation's messages with a seq greater than `after`, in seq order."""
    query = (
        select(messages)
        .where(messages.c.conversation_id == conversation_id, messages.c.seq > after)
        .order_by(messages.c.seq)
    )
    if limit is not None:
        query = query.limit(limit)
    return [message_view(row) for row in await connection.execute(query)]


async def inbox(
    connection: AsyncConnection,
    chatbot_id: str,
    *,
    limit: int,
    before: datetime | None = None,
    status: str | None = None,
) -> list[ConversationView]:
    """Conversations with at least one visitor message, newest `last_message_at` first."""
    visitor_wrote = exists().where(
        messages.c.conversation_id == conversations.c.id, messages.c.role == "visitor"
    )
    last = messages.alias("last_message")
    query = (
        select(*_CONVERSATION_COLUMNS, *(column.label(f"m_{column.name}") for column in last.c))
        .join(chatbots, chatbots.c.id == conversations.c.chatbot_id)
        .outerjoin(
            last,
            and_(
                last.c.conversation_id == conversations.c.id,
                last.c.seq == conversations.c.last_seq,
            ),
        )
        .where(conversations.c.chatbot_id == chatbot_id, visitor_wrote)
        .order_by(conversations.c.last_message_at.desc(), conversations.c.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(conversations.c.last_message_at < before)
    if status is not None:
        query = query.where(conversations.c.status == status)
    views = []
    for row in await connection.execute(query):
        last_message = None
        if row.m_id is not None:
            last_message = MessageView(
                id=row.m_id,
                seq=row.m_seq,
                conversation_id=row.m_conversation_id,
                role=row.m_role,
                text=row.m_text,
                client_id=row.m_client_id,
                created_at=as_utc(row.m_created_at),
            )
        views.append(_conversation_view(row, last_message))
    return views
