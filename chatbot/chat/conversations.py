"""Conversation writes: start one for a visitor token, resume it, change its status, identify.

The visitor token is a bearer secret handed to the widget once; only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatbot.conversations.message import MessageView
from chatbot.conversations.repository import ConversationView, conversation_by_id, message_view
from chatbot.storage.schema import conversations, messages
from chatbot.storage.values import new_id, utcnow

Status = Literal["bot", "waiting_for_human", "human", "closed"]
MAX_TOKEN_LENGTH = 256


def new_visitor_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "backslashreplace")).hexdigest()


@dataclass(frozen=True, slots=True)
class VisitorConversation:
    """The conversation a visitor socket talks in."""

    id: str
    chatbot_id: str
    status: str
    last_seq: int


@dataclass(frozen=True, slots=True)
class StartedConversation:
    conversation: VisitorConversation
    visitor_token: str
    greeting: MessageView | None


async def find_visitor_conversation(
    engine: AsyncEngine, chatbot_id: str, visitor_token: str
) -> VisitorConversation | None:
    """The chatbot's conversation of this visitor token, or None (unknown, or another chatbot's)."""
    if not visitor_token or len(visitor_token) > MAX_TOKEN_LENGTH:
        return None
    c = conversations.c
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(c.id, c.chatbot_id, c.status, c.last_seq).where(
                    c.visitor_token_hash == token_hash(visitor_token), c.chatbot_id == chatbot_id
                )
            )
        ).first()
    if row is None:
        return None
    return VisitorConversation(row.id, row.chatbot_id, row.status, row.last_seq)


async def start_conversation(
    engine: AsyncEngine, chatbot_id: str, greeting: str
) -> StartedConversation:
    """A new conversation with a new visitor token; its greeting, if any, stored as seq 1."""
    token = new_visitor_token()
    now = utcnow()
    conversation_id = new_id()
    greeting_row: dict[str, Any] | None = None
    if greeting:
        greeting_row = {
            "id": new_id(),
            "conversation_id": conversation_id,
            "seq": 1,
            "role": "bot",
            "text": greeting,
            "client_id": None,
            "author_id": None,
            "created_at": now,
        }
    async with engine.begin() as connection:
        await connection.execute(
            insert(conversations).values(
                id=conversation_id,
                chatbot_id=chatbot_id,
                visitor_token_hash=token_hash(token),
                status="bot",
                last_seq=1 if greeting_row else 0,
                visitor_data={},
                started_at=now,
                last_message_at=None,
                handed_off=False,
            )
        )
        if greeting_row is not None:
            await connection.execute(insert(messages).values(**greeting_row))
    greeting_view = None
    if greeting_row is not None:
        greeting_view = MessageView(
            id=greeting_row["id"],
            seq=1,
            conversation_id=conversation_id,
            role="bot",
            text=greeting,
            client_id=None,
            created_at=now,
        )
    return StartedConversation(
        VisitorConversation(conversation_id, chatbot_id, "bot", 0), token, greeting_view
    )


async def change_status(
    engine: AsyncEngine,
    conversation_id: str,
    status: Status,
    *,
    only_from: Collection[str] | None = None,
    hand_off: bool = False,
) -> tuple[ConversationView | None, bool]:
    """Set the status (when it differs, and is one of `only_from` if given).

    Returns the conversation as it is after the change, with its last message, and whether it
    changed; (None, False) when the conversation does not exist.
    """
    c = conversations.c
    condition = [c.id == conversation_id, c.status != status]
    if only_from is not None:
        condition.append(c.status.in_(list(only_from)))
    values: dict[str, Any] = {"status": status}
    if hand_off:
        values["handed_off"] = True
    async with engine.begin() as connection:
        changed = await connection.execute(
            update(conversations).where(*condition).values(values).returning(c.id)
        )
        was_changed = changed.first() is not None
        view = await conversation_snapshot(connection, conversation_id)
    return view, was_changed


async def conversation_snapshot(
    connection: AsyncConnection, conversation_id: str
) -> ConversationView | None:
    """The conversation with its owner and its last message, as the `conversation` event shows."""
    view = await conversation_by_id(connection, conversation_id)
    if view is None or view.last_seq == 0:
        return view
    row = (
        await connection.execute(
            select(messages).where(
                messages.c.conversation_id == conversation_id, messages.c.seq == view.last_seq
            )
        )
    ).first()
    if row is None:
        return view
    return _with_last_message(view, message_view(row))


def _with_last_message(view: ConversationView, message: MessageView) -> ConversationView:
    return ConversationView(
        id=view.id,
        chatbot_id=view.chatbot_id,
        owner_id=view.owner_id,
        status=view.status,
        last_seq=view.last_seq,
        handed_off=view.handed_off,
        started_at=view.started_at,
        last_message_at=view.last_message_at,
        last_message=message,
    )


async def set_visitor_data(
    engine: AsyncEngine, conversation_id: str, data: Mapping[str, Any]
) -> bool:
    """Replace what the visitor's page identified; returns whether it differs from before."""
    c = conversations.c
    async with engine.begin() as connection:
        current = (
            await connection.execute(select(c.visitor_data).where(c.id == conversation_id))
        ).scalar_one_or_none()
        if current == data:
            return False
        await connection.execute(
            update(conversations).where(c.id == conversation_id).values(visitor_data=dict(data))
        )
    return True
