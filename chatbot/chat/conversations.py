"""Conversation writes: open one for a visitor token, store it, change its status or assignee,
identify.

The visitor token is a bearer secret handed to the widget once; only its SHA-256 is stored.
A new conversation is stored at its first visitor message (see `chat.visitor_tokens`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatbot.chat import visitor_tokens
from chatbot.chat.store_batch import insert_webhook_rows, store_conversations
from chatbot.chat.writes import NewConversation, webhook_rows
from chatbot.conversations.message import MessageView
from chatbot.conversations.repository import ConversationView, conversation_by_id, message_view
from chatbot.storage.schema import conversations, erased_conversations, messages
from chatbot.storage.values import as_utc, new_id, utcnow, visitor_id_of
from chatbot.vocabulary import Status
from chatbot.webhooks.events import STATUS_CHANGED, Hooks, conversation_data, event_rows

# The webhooks of a workspace (None: it has none), from the instance's cache.
HooksOf = Callable[[str], Awaitable[Hooks | None]]

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

    @property
    def visitor_id(self) -> str:
        return visitor_id_of(token_hash(self.visitor_token))


async def open_visitor_conversation(
    engine: AsyncEngine,
    key: bytes,
    chatbot_id: str,
    greeting: str,
    token: str,
    retention_days: int | None = None,
    user_id: str | None = None,
) -> OpenedConversation:
    """The conversation of this visitor token, stored or not yet; an unknown token starts a new
    one, stored only at its first visitor message (or request for a person).

    A signed token whose conversation was erased, or is not stored and started longer ago than
    the chatbot keeps conversations (it may have been purged), starts a new one too.
    A conversation of a verified user belongs to that user alone: only a socket verified as
    `user_id` resumes it, by its token or, from another device, as the user's latest
    conversation that is not closed. An anonymous socket never resumes it, token or not.
    """
    signed = None
    if token and len(token) <= MAX_TOKEN_LENGTH:
        signed = visitor_tokens.read(key, chatbot_id, token)
        c = conversations.c
        # A signed token names its conversation; an older token is found by its hash.
        found_by = (
            c.id == signed.conversation_id if signed else c.visitor_token_hash == token_hash(token)
        )
        query = select(c.id, c.status, c.last_seq, c.visitor_token_hash, c.user_id).where(
            found_by, c.chatbot_id == chatbot_id
        )
        async with engine.connect() as connection:
            row = (await connection.execute(query)).first()
        if row is not None:
            own_token = row.visitor_token_hash == token_hash(token)
            # A verified user's own signed token names their conversation from any device.
            if row.user_id == user_id and (own_token or user_id is not None):
                stored = VisitorConversation(row.id, chatbot_id, row.status, row.last_seq)
                if user_id is None or row.status != "closed":
                    return OpenedConversation(stored, token, None)
                latest = await _latest_open(engine, key, chatbot_id, user_id)
                return latest or OpenedConversation(stored, token, None)
            signed = None  # another visitor's conversation: this token starts afresh
        elif signed is not None and await _forgotten(engine, signed, retention_days):
            signed = None
    if user_id is not None:
        latest = await _latest_open(engine, key, chatbot_id, user_id)
        if latest is not None:
            return latest
    if signed is not None:  # never stored: the same conversation, its greeting sent already
        new = NewConversation(
            signed.conversation_id,
            chatbot_id,
            token_hash(token),
            signed.started_at,
            greeting,
            {},
            user_id=user_id,
        )
        pending = VisitorConversation(new.id, chatbot_id, "bot", 1 if greeting else 0, new)
        return OpenedConversation(pending, token, None)
    conversation_id, started_at = new_id(), utcnow()
    token = visitor_tokens.issue(key, chatbot_id, conversation_id, started_at)
    new = NewConversation(
        conversation_id, chatbot_id, token_hash(token), started_at, greeting, {}, user_id=user_id
    )
    pending = VisitorConversation(conversation_id, chatbot_id, "bot", 0, new)
    return OpenedConversation(pending, token, new.greeting)


async def _forgotten(
    engine: AsyncEngine, signed: visitor_tokens.SignedConversation, retention_days: int | None
) -> bool:
    """Whether a signed token's unstored conversation was erased or may have been purged."""
    if retention_days is not None and signed.started_at < utcnow() - timedelta(retention_days):
        return True
    e = erased_conversations.c
    async with engine.connect() as connection:
        erased = await connection.scalar(select(e.id).where(e.id == signed.conversation_id))
    return erased is not None


async def _latest_open(
    engine: AsyncEngine, key: bytes, chatbot_id: str, user_id: str
) -> OpenedConversation | None:
    """The verified user's latest conversation that is not closed, with a token naming it for
    this device (the stored token stays with the device that has it)."""
    c = conversations.c
    query = (
        select(c.id, c.status, c.last_seq, c.started_at)
        .where(c.chatbot_id == chatbot_id, c.user_id == user_id, c.status != "closed")
        .order_by(func.coalesce(c.last_message_at, c.started_at).desc(), c.id.desc())
        .limit(1)
    )
    async with engine.connect() as connection:
        row = (await connection.execute(query)).first()
    if row is None:
        return None
    token = visitor_tokens.issue(key, chatbot_id, row.id, as_utc(row.started_at))
    stored = VisitorConversation(row.id, chatbot_id, row.status, row.last_seq)
    return OpenedConversation(stored, token, None)


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
    claim_for: str | None = None,
    hooks_of: HooksOf | None = None,
) -> tuple[ConversationView | None, bool]:
    """Set the status (when it differs, and is one of `only_from` if given); with `claim_for`,
    also assign that user when nobody is (a takeover), in the same update.

    Returns the conversation as it is after the change, with its last message, and whether it
    changed; (None, False) when the conversation does not exist. A change's
    `conversation.status_changed` event, when its workspace has webhooks for it, is written in
    the same transaction.
    """
    c = conversations.c
    differs = c.status != status
    values: dict[str, Any] = {"status": status}
    if claim_for is not None:
        differs = or_(differs, c.assignee_id.is_(None))
        values["assignee_id"] = func.coalesce(c.assignee_id, claim_for)
    condition = [c.id == conversation_id, differs]
    if only_from is not None:
        condition.append(c.status.in_(list(only_from)))
    if hand_off:
        values["handed_off"] = True
    return await _update(engine, conversation_id, condition, values, hooks_of=hooks_of)


async def change_assignee(
    engine: AsyncEngine, conversation_id: str, assignee_id: str | None
) -> tuple[ConversationView | None, bool]:
    """Assign the conversation to `assignee_id` (None: to nobody); like `change_status`, the
    conversation after it and whether it changed. The caller checks who may be assigned."""
    c = conversations.c
    condition = [c.id == conversation_id, c.assignee_id.is_distinct_from(assignee_id)]
    return await _update(engine, conversation_id, condition, {"assignee_id": assignee_id})


async def _update(
    engine: AsyncEngine,
    conversation_id: str,
    condition: list[Any],
    values: dict[str, Any],
    *,
    hooks_of: HooksOf | None = None,
) -> tuple[ConversationView | None, bool]:
    """Apply `values` where `condition` holds; with `hooks_of`, a change also writes its
    `conversation.status_changed` events in the same transaction."""
    c = conversations.c
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
    return replace(view, last_message=message_view(row))


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
