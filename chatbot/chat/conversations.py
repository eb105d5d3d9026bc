"""Conversation writes: open one for a visitor token, store it, change its status, identify.

The visitor token is a bearer secret handed to the widget once; only its SHA-256 is stored.
A new conversation is stored at its first visitor message (see `chat.visitor_tokens`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatbot.chat import visitor_tokens
from chatbot.chat.store_batch import insert_webhook_rows, store_conversations
from chatbot.chat.writes import NewConversation, webhook_rows
from chatbot.conversations.message import MessageView
from chatbot.conversations.repository import ConversationView, conversation_by_id, message_view
from chatbot.storage.schema import conversations, messages
from chatbot.storage.values import new_id, utcnow
from chatbot.webhooks.events import STATUS_CHANGED, Hooks, conversation_data, event_rows

# The webhooks of a workspace (None: it has none), from the instance's cache.
HooksOf = Callable[[str], Awaitable[Hooks | None]]

Status = Literal["bot", "waiting_for_human", "human", "closed"]
MAX_TOKEN_LENGTH = 256


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "backslashreplace")).hexdigest()


@dataclass(frozen=True, slots=True)
class VisitorConversation:
    """The conversation a visitor socket talks in; `new` until it is stored."""

    id: str
    chatbot_id: str
    status: str
    last_seq: int
    new: NewConversation | None = None


@dataclass(frozen=True, slots=True)
class OpenedConversation:
    """A visitor socket's conversation, its token, and the greeting to send after the welcome."""

    conversation: VisitorConversation
    visitor_token: str
    greeting: MessageView | None


async def open_visitor_conversation(
    engine: AsyncEngine, key: bytes, chatbot_id: str, greeting: str, token: str
) -> OpenedConversation:
    """The conversation of this visitor token, stored or not yet; an unknown token starts a new
    one, stored only at its first visitor message (or request for a person)."""
    signed = None
    if token and len(token) <= MAX_TOKEN_LENGTH:
        signed = visitor_tokens.read(key, chatbot_id, token)
        c = conversations.c
        # A signed token names its conversation; an older token is found by its hash.
        found_by = (
            c.id == signed.conversation_id if signed else c.visitor_token_hash == token_hash(token)
        )
        query = select(c.id, c.status, c.last_seq, c.visitor_token_hash).where(
            found_by, c.chatbot_id == chatbot_id
        )
        async with engine.connect() as connection:
            row = (await connection.execute(query)).first()
        if row is not None:
            if row.visitor_token_hash == token_hash(token):
                stored = VisitorConversation(row.id, chatbot_id, row.status, row.last_seq)
                return OpenedConversation(stored, token, None)
            signed = None  # another visitor's conversation: this token starts afresh
    if signed is not None:  # never stored: the same conversation, its greeting sent already
        new = NewConversation(
            signed.conversation_id, chatbot_id, token_hash(token), signed.started_at, greeting, {}
        )
        pending = VisitorConversation(new.id, chatbot_id, "bot", 1 if greeting else 0, new)
        return OpenedConversation(pending, token, None)
    conversation_id, started_at = new_id(), utcnow()
    token = visitor_tokens.issue(key, chatbot_id, conversation_id, started_at)
    new = NewConversation(conversation_id, chatbot_id, token_hash(token), started_at, greeting, {})
    pending = VisitorConversation(conversation_id, chatbot_id, "bot", 0, new)
    return OpenedConversation(pending, token, new.greeting)


def _store_with_events(
    connection: Connection, new: NewConversation, hooks: Hooks | None
) -> set[str]:
    foreign, stored_now = store_conversations(connection, [new])
    if hooks is not None and stored_now:
        rows = webhook_rows({new.id: hooks}, stored_now, (), {}, utcnow())
        insert_webhook_rows(connection, rows)
    return foreign


async def store_conversation(
    engine: AsyncEngine, new: NewConversation, hooks: Hooks | None = None
) -> bool:
    """Store a conversation (with its greeting) before a frame other than a message needs it;
    False if it cannot be: its chatbot is gone, or another visitor token holds its id. Its
    webhook events go in the same transaction."""
    async with engine.begin() as connection:
        foreign = await connection.run_sync(_store_with_events, new, hooks)
        if foreign:
            return False
        c = conversations.c
        stored = await connection.scalar(select(c.id).where(c.id == new.id))
    return stored is not None


async def change_status(
    engine: AsyncEngine,
    conversation_id: str,
    status: Status,
    *,
    only_from: Collection[str] | None = None,
    hand_off: bool = False,
    hooks_of: HooksOf | None = None,
) -> tuple[ConversationView | None, bool]:
    """Set the status (when it differs, and is one of `only_from` if given).

    Returns the conversation as it is after the change, with its last message, and whether it
    changed; (None, False) when the conversation does not exist. A change's
    `conversation.status_changed` event, when its workspace has webhooks for it, is written in
    the same transaction.
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
        if was_changed and view is not None and hooks_of is not None:
            data = conversation_data(view.as_json(), view.workspace_id)
            rows = event_rows(await hooks_of(view.workspace_id), STATUS_CHANGED, data, utcnow())
            if rows:
                await connection.run_sync(insert_webhook_rows, rows)
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
        workspace_id=view.workspace_id,
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
