"""Pure reads of conversations and messages, shared by the REST routes and the realtime chat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from chatbot.conversations.message import MessageView
from chatbot.storage.schema import chatbots, conversations, messages, users
from chatbot.storage.values import as_utc, iso
from chatbot.vocabulary import Channel, Status


@dataclass(frozen=True, slots=True)
class Assignee:
    """The member a conversation is assigned to, as conversations show it."""

    id: str
    name: str

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


def display_name(name: str, email: str) -> str:
    """A member's name as the Inbox shows it: their name, else their email's local part."""
    return name.strip() or email.split("@", 1)[0]


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
    channel: Channel = "widget"  # or "api": the OpenAI-compatible API
    visitor_id: str = ""
    user_id: str | None = None  # the verified user's id; None: an anonymous visitor
    assignee: Assignee | None = None

    def as_json(self) -> dict[str, Any]:
        last = self.last_message
        return {
            "id": self.id,
            "chatbot_id": self.chatbot_id,
            "visitor_id": self.visitor_id,
            "workspace_id": self.workspace_id,
            "status": self.status,
            "started_at": iso(self.started_at),
            "last_message_at": iso(self.last_message_at),
            "last_seq": self.last_seq,
            "handed_off": self.handed_off,
            "channel": self.channel,
            "last_message": None if last is None else last.as_json(),
            "user_id": self.user_id,
            "assignee": None if self.assignee is None else self.assignee.as_json(),
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


# What `assignee_of` reads, from a query joined by `with_assignee`.
ASSIGNEE_COLUMNS = (
    conversations.c.assignee_id,
    users.c.name.label("assignee_name"),
    users.c.email.label("assignee_email"),
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
    conversations.c.channel,
    conversations.c.visitor_id,
    conversations.c.user_id,
    *ASSIGNEE_COLUMNS,
)


def with_assignee(query: Any) -> Any:
    """`query` (over conversations, selecting `ASSIGNEE_COLUMNS`) joined to the assignee's
    account, for `assignee_of`."""
    return query.outerjoin(users, users.c.id == conversations.c.assignee_id)


def assignee_of(row: Any) -> Assignee | None:
    """The assignee of a row selected with `ASSIGNEE_COLUMNS`."""
    if row.assignee_id is None:
        return None
    return Assignee(row.assignee_id, display_name(row.assignee_name or "", row.assignee_email))


UNASSIGNED = ""  # the `assignee` filter of conversations nobody is assigned to
AssigneeFilter = str | None


def assigned_to(assignee: str) -> Any:
    """The condition of an `assignee` filter: that user's conversations, or UNASSIGNED ones."""
    if assignee == UNASSIGNED:
        return conversations.c.assignee_id.is_(None)
    return conversations.c.assignee_id == assignee


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
        channel=row.channel,
        visitor_id=row.visitor_id,
        user_id=row.user_id,
        assignee=assignee_of(row),
    )


async def conversation_by_id(
    connection: AsyncConnection, conversation_id: str
) -> ConversationView | None:
    """One conversation with its chatbot's workspace (for the policy's checks), or None."""
    row = (
        await connection.execute(
            with_assignee(
                select(*_CONVERSATION_COLUMNS).join(
                    chatbots, chatbots.c.id == conversations.c.chatbot_id
                )
            ).where(conversations.c.id == conversation_id)
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
    status: Status | None = None,
    assignee: AssigneeFilter = None,
) -> list[ConversationView]:
    """Conversations with at least one visitor message, newest `last_message_at` first;
    `assignee`: a user id, UNASSIGNED, or None for every conversation."""
    visitor_wrote = exists().where(
        messages.c.conversation_id == conversations.c.id, messages.c.role == "visitor"
    )
    last = messages.alias("last_message")
    query = (
        with_assignee(
            select(
                *_CONVERSATION_COLUMNS, *(column.label(f"m_{column.name}") for column in last.c)
            ).join(chatbots, chatbots.c.id == conversations.c.chatbot_id)
        )
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
    if assignee is not None:
        query = query.where(assigned_to(assignee))
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
