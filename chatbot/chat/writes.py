"""Writes to the message store and their outcomes, shared by every commit path.

No database code here: the SQLite writer process imports this module and must start quickly.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from chatbot.conversations.message import MessageView
from chatbot.storage.values import new_id
from chatbot.vocabulary import Channel, Role
from chatbot.webhooks.events import (
    CONVERSATION_CREATED,
    MESSAGE_CREATED,
    Hooks,
    Row,
    event_rows,
    message_data,
    new_conversation_data,
)


class StoreUnavailable(Exception):
    """The message could not be stored (database down or shutting down); send it again later."""


# Why a write was refused, as its sender is told.
DATABASE_UNAVAILABLE = "the database is unavailable"
NOT_STORED = "the message could not be stored"
SHUTTING_DOWN = "the server is shutting down"


class ConversationGone(Exception):
    """The conversation no longer exists (its chatbot was deleted)."""


@dataclass(frozen=True, slots=True)
class NewConversation:
    """A conversation its visitor's socket named but nobody stored yet, as its first visitor
    message (or request for a person) stores it: the row, and its greeting as seq 1."""

    id: str
    chatbot_id: str
    visitor_token_hash: str
    started_at: datetime
    greeting_text: str  # "" for no greeting
    visitor_data: Mapping[str, Any]
    channel: Channel = "widget"  # "api" for the OpenAI-compatible API's conversations
    user_id: str | None = None  # the verified user it belongs to, if any

    @property
    def greeting(self) -> MessageView | None:
        """The greeting as its visitor saw it: the same id and time on every socket."""
        if not self.greeting_text:
            return None
        greeting_id = str(uuid.uuid5(uuid.UUID(self.id), "greeting"))
        return MessageView(
            greeting_id, 1, self.id, "bot", self.greeting_text, None, self.started_at
        )


# Built for every message: not frozen, since a frozen dataclass's __init__ sets each field through
# object.__setattr__, a much slower call. Nothing changes them after they are built.
@dataclass(slots=True)
class Write:
    """A message to store."""

    conversation_id: str
    role: Role
    text: str
    client_id: str | None = None
    author_id: str | None = None
    new_conversation: NewConversation | None = None  # stored first, in the same transaction
    # The workspace's webhooks, when it has any: their events go in the same transaction.
    hooks: Hooks | None = None

    @property
    def key(self) -> tuple[str, str] | None:
        return None if self.client_id is None else (self.conversation_id, self.client_id)


@dataclass(slots=True)  # built for every message: see Write
class Stored:
    """A write's outcome, with the conversation as its transaction left it."""

    message: MessageView
    created: bool  # False: the client_id was stored before; `message` is that stored message
    status: str = ""
    handed_off: bool = False
    chatbot_id: str = ""
    started_at: datetime | None = None  # set with first_visitor_message, for its conversation event
    first_visitor_message: bool = False  # this message made the conversation visible to operators


@dataclass(slots=True)
class ConversationState:
    """A conversation as the batch's UPDATE left it; `next_seq` advances as messages take seqs."""

    next_seq: int
    status: str
    handed_off: bool
    chatbot_id: str
    started_at: datetime | None  # needed (and read) only when first_visitor_now
    first_visitor_now: bool  # the batch holds the conversation's first visitor message


def new_conversations(writes: Sequence[Write]) -> list[NewConversation]:
    """The conversations to store before `writes`, each once, in id order (as the UPDATE of
    seqs: two instances' transactions then never wait for each other's rows in turn)."""
    found: dict[str, NewConversation] = {}
    for write in writes:
        if write.new_conversation is not None:
            found.setdefault(write.conversation_id, write.new_conversation)
    return [found[conversation_id] for conversation_id in sorted(found)]


def is_refused(write: Write, foreign: Collection[str]) -> bool:
    """A write that would start a conversation stored under another visitor token."""
    return write.new_conversation is not None and write.conversation_id in foreign


def outcomes(
    writes: Sequence[Write],
    existing: Mapping[tuple[str, str], MessageView],
    state: Mapping[str, ConversationState],
    now: datetime,
    foreign: Collection[str] = (),
) -> tuple[list[Stored | ConversationGone], list[tuple[Write, MessageView]]]:
    """Each write's outcome, and the new messages to insert (both commit paths share this).

    A write whose client_id is stored already answers with that message; a write to a
    conversation the UPDATE did not find, or that would start one stored under another visitor
    token (`foreign`), is ConversationGone; the others take the next seqs.
    """
    results: list[Stored | ConversationGone] = []
    created: list[tuple[Write, MessageView]] = []
    for write in writes:
        if foreign and is_refused(write, foreign):
            results.append(ConversationGone(write.conversation_id))
            continue
        key = write.key
        if key is not None and key in existing:
            results.append(Stored(message=existing[key], created=False))
            continue
        conversation = state.get(write.conversation_id)
        if conversation is None:
            results.append(ConversationGone(write.conversation_id))
            continue
        message = MessageView(
            id=new_id(),
            seq=conversation.next_seq,
            conversation_id=write.conversation_id,
            role=write.role,
            text=write.text,
            client_id=write.client_id,
            created_at=now,
        )
        conversation.next_seq += 1
        created.append((write, message))
        first_visitor = write.role == "visitor" and conversation.first_visitor_now
        if first_visitor:
            conversation.first_visitor_now = False
        results.append(
            Stored(
                message=message,
                created=True,
                status=conversation.status,
                handed_off=conversation.handed_off,
                chatbot_id=conversation.chatbot_id,
                started_at=conversation.started_at if first_visitor else None,
                first_visitor_message=first_visitor,
            )
        )
    return results, created


def hooks_of(writes: Sequence[Write]) -> dict[str, Hooks]:
    """The webhooks of each conversation the writes touch, for those whose workspace has any."""
    return {w.conversation_id: w.hooks for w in writes if w.hooks is not None}


def webhook_rows(
    hooked: Mapping[str, Hooks],
    stored_now: Sequence[NewConversation],
    created: Sequence[tuple[Write, MessageView]],
    state: Mapping[str, ConversationState],
    now: datetime,
) -> list[Row]:
    """The outbox rows of a transaction (every commit path shares this): `conversation.created`
    for each conversation it stored (and `message.created` for its greeting), then
    `message.created` for each new message; only in conversations in `hooked`."""
    rows: list[Row] = []
    for conversation in stored_now:
        hooks = hooked.get(conversation.id)
        if hooks is None:
            continue
        greeting = conversation.greeting
        data = new_conversation_data(
            conversation.id,
            conversation.chatbot_id,
            hooks.workspace_id,
            conversation.started_at,
            greeting,
        )
        rows += event_rows(hooks, CONVERSATION_CREATED, data, now)
        if greeting is not None:
            greeting_data = message_data(greeting, conversation.chatbot_id, hooks.workspace_id)
            rows += event_rows(hooks, MESSAGE_CREATED, greeting_data, now)
    for write, message in created:
        hooks = hooked.get(write.conversation_id)
        if hooks is None:
            continue
        chatbot_id = state[write.conversation_id].chatbot_id
        data = message_data(message, chatbot_id, hooks.workspace_id)
        rows += event_rows(hooks, MESSAGE_CREATED, data, now)
    return rows


@dataclass(slots=True)
class BatchPlan:
    """A batch split into the writes to commit and the repeats of a client_id within it."""

    unique: list[Write]
    positions: list[int]  # each unique write's index in the batch
    repeats: list[tuple[int, int]]  # (index of a repeat, index of the earlier write it repeats)
    size: int

    @classmethod
    def of(cls, batch: Sequence[Write]) -> BatchPlan:
        first: dict[tuple[str, str], int] = {}
        plan = cls([], [], [], len(batch))
        for index, write in enumerate(batch):
            key = write.key
            if key is not None:
                earlier = first.get(key)
                if earlier is not None:
                    plan.repeats.append((index, earlier))
                    continue
                first[key] = index
            plan.unique.append(write)
            plan.positions.append(index)
        return plan

    def arrange(self, results: Sequence[Stored | BaseException]) -> list[Stored | BaseException]:
        """The unique writes' results in batch order; a repeat gets its original's message,
        `created` False."""
        if not self.repeats:
            return list(results)
        arranged = dict(zip(self.positions, results, strict=True))
        for index, earlier in self.repeats:
            first = arranged[earlier]
            arranged[index] = replace(first, created=False) if isinstance(first, Stored) else first
        return [arranged[index] for index in range(self.size)]
