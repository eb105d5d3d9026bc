"""Inbox reads across all of an operator's chatbots: the list, text search, one conversation."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, select
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.conversations.message import MessageView
from chatbot.conversations.repository import (
    ASSIGNEE_COLUMNS,
    Assignee,
    AssigneeFilter,
    assigned_to,
    assignee_of,
    messages_after,
    with_assignee,
)
from chatbot.storage.schema import chatbots, conversations, messages
from chatbot.storage.values import as_utc, iso

INBOX_LIMIT = 100
HISTORY_LIMIT = 1000
MAX_SEARCH_LENGTH = 200


@dataclass(frozen=True, slots=True)
class InboxItem:
    """A conversation as the inbox lists it: its chatbot's name and its latest message."""

    id: str
    chatbot_id: str
    chatbot_name: str
    status: str
    last_seq: int
    started_at: datetime
    last_message_at: datetime | None
    last_role: str | None
    last_text: str | None
    assignee: Assignee | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "chatbot_id": self.chatbot_id,
            "chatbot_name": self.chatbot_name,
            "status": self.status,
            "last_seq": self.last_seq,
            "started_at": iso(self.started_at),
            "last_message_at": iso(self.last_message_at),
            "last_message": None
            if self.last_text is None
            else {"role": self.last_role, "text": self.last_text, "seq": self.last_seq},
            "assignee": None if self.assignee is None else self.assignee.as_json(),
        }


def like_pattern(text: str) -> str:
    """`%text%` with LIKE's wildcards escaped (escape character: backslash)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _base_query(workspace_ids: Collection[str]) -> Select[Any]:
    """The workspaces' conversations with their chatbot's name and their latest message."""
    last = messages.alias("last_message")
    columns = select(
        conversations.c.id,
        conversations.c.chatbot_id,
        chatbots.c.name.label("chatbot_name"),
        conversations.c.status,
        conversations.c.last_seq,
        conversations.c.started_at,
        conversations.c.last_message_at,
        last.c.role.label("last_role"),
        last.c.text.label("last_text"),
        *ASSIGNEE_COLUMNS,
    )
    query: Select[Any] = with_assignee(
        columns.join(chatbots, chatbots.c.id == conversations.c.chatbot_id)
    )
    return query.outerjoin(
        last,
        and_(
            last.c.conversation_id == conversations.c.id,
            last.c.seq == conversations.c.last_seq,
        ),
    ).where(chatbots.c.workspace_id.in_(list(workspace_ids)))


def _item(row: Any) -> InboxItem:
    return InboxItem(
        id=row.id,
        chatbot_id=row.chatbot_id,
        chatbot_name=row.chatbot_name,
        status=row.status,
        last_seq=row.last_seq,
        started_at=as_utc(row.started_at),
        last_message_at=None if row.last_message_at is None else as_utc(row.last_message_at),
        last_role=row.last_role,
        last_text=row.last_text,
        assignee=assignee_of(row),
    )


async def workspace_inbox(
    engine: AsyncEngine,
    workspace_ids: Collection[str],
    *,
    search: str = "",
    status: str | None = None,
    chatbot_id: str | None = None,
    assignee: AssigneeFilter = None,
    limit: int = INBOX_LIMIT,
) -> list[InboxItem]:
    """The workspaces' conversations, newest message first; `search` matches any message."""
    visitor_wrote = exists().where(
        messages.c.conversation_id == conversations.c.id, messages.c.role == "visitor"
    )
    # The contract's inbox shows a conversation from its first visitor message on.
    query = _base_query(workspace_ids).where(visitor_wrote)
    if search:
        matching = messages.alias("matching")
        query = query.where(
            exists().where(
                matching.c.conversation_id == conversations.c.id,
                matching.c.text.ilike(like_pattern(search), escape="\\"),
            )
        )
    if status is not None:
        query = query.where(conversations.c.status == status)
    if chatbot_id is not None:
        query = query.where(conversations.c.chatbot_id == chatbot_id)
    if assignee is not None:
        query = query.where(assigned_to(assignee))
    query = query.order_by(conversations.c.last_message_at.desc(), conversations.c.id.desc()).limit(
        limit
    )
    async with engine.connect() as connection:
        return [_item(row) for row in await connection.execute(query)]


@dataclass(frozen=True, slots=True)
class Visitor:
    """Who a conversation's visitor is: what their page identified, and the verified user id
    (None for an anonymous visitor)."""

    data: dict[str, Any]
    user_id: str | None


async def workspace_conversation(
    engine: AsyncEngine, workspace_ids: Collection[str], conversation_id: str
) -> tuple[InboxItem, list[MessageView], Visitor] | None:
    """The conversation, its latest messages and its visitor; None if not in the workspaces."""
    # Unlike the list, a conversation without a visitor message yet can still be opened.
    query = (
        _base_query(workspace_ids)
        .add_columns(conversations.c.visitor_data, conversations.c.user_id)
        .where(conversations.c.id == conversation_id)
    )
    async with engine.connect() as connection:
        row = (await connection.execute(query)).first()
        if row is None:
            return None
        item = _item(row)
        after = max(0, item.last_seq - HISTORY_LIMIT)
        history = await messages_after(connection, conversation_id, after)
    data = row.visitor_data if isinstance(row.visitor_data, dict) else {}
    return item, history, Visitor(data, row.user_id)
