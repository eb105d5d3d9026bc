"""One group-commit transaction as plain synchronous Core.

PostgreSQL runs it through `run_sync`; SQLite runs `store_sqlite.commit_batch_sqlite`, the same
transaction on the raw driver in the store's thread (these types are shared by both).
Statements are built once; lists are expanding or cached per size, so that SQLAlchemy compiles
each form once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import (
    Connection,
    DateTime,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    insert,
    or_,
    select,
    update,
)

from chatbot.conversations.repository import MessageView, message_view
from chatbot.storage.schema import conversations, messages
from chatbot.storage.values import as_utc, new_id, utcnow

Role = Literal["visitor", "bot", "operator"]


class ConversationGone(Exception):
    """The conversation no longer exists (its chatbot was deleted)."""


@dataclass(frozen=True, slots=True)
class Write:
    """A message to store."""

    conversation_id: str
    role: Role
    text: str
    client_id: str | None = None
    author_id: str | None = None

    @property
    def key(self) -> tuple[str, str] | None:
        return None if self.client_id is None else (self.conversation_id, self.client_id)


@dataclass(frozen=True, slots=True)
class Stored:
    """A write's outcome, with the conversation as its transaction left it."""

    message: MessageView
    created: bool  # False: the client_id was stored before; `message` is that stored message
    status: str = ""
    handed_off: bool = False
    chatbot_id: str = ""
    started_at: datetime | None = None
    first_visitor_message: bool = False  # this message made the conversation visible to operators


_c = conversations.c
_NOW = bindparam("now", type_=DateTime(timezone=True))

# Per conversation: reserve `count` seqs and stamp the message times. The row lock it takes
# (PostgreSQL) or the write lock (SQLite) makes concurrent writers of a conversation take turns.
_ADVANCE = (
    update(conversations)
    .where(_c.id.in_(bindparam("ids", expanding=True)))
    .values(
        last_seq=_c.last_seq + bindparam("count", type_=Integer),
        last_message_at=_NOW,
        first_visitor_message_at=case(
            (
                and_(
                    _c.id.in_(bindparam("visitor_ids", expanding=True)),
                    _c.first_visitor_message_at.is_(None),
                ),
                _NOW,
            ),
            else_=_c.first_visitor_message_at,
        ),
        first_operator_message_at=case(
            (
                and_(
                    _c.id.in_(bindparam("operator_ids", expanding=True)),
                    _c.first_operator_message_at.is_(None),
                ),
                _NOW,
            ),
            else_=_c.first_operator_message_at,
        ),
    )
    .returning(
        _c.id,
        _c.last_seq,
        _c.status,
        _c.handed_off,
        _c.chatbot_id,
        _c.started_at,
        # True when this very UPDATE set it: the batch holds the first visitor message.
        (_c.first_visitor_message_at == _NOW).label("first_visitor_now"),
    )
)

_INSERT_MESSAGES = insert(messages)


@lru_cache(maxsize=512)
def _stored_client_ids_query(count: int) -> Select[Any]:
    """`count` (conversation_id, client_id) pairs, each an index lookup.

    Not two IN lists (the index would be probed for every combination of them), nor a row-value
    IN (SQLite scans the table for it): OR-ed pairs, one statement per batch size, built once.
    """
    m = messages.c
    return select(messages).where(
        or_(
            *(
                and_(m.conversation_id == bindparam(f"c{i}"), m.client_id == bindparam(f"k{i}"))
                for i in range(count)
            )
        )
    )


@dataclass(slots=True)
class ConversationState:
    """A conversation as the batch's UPDATE left it; `next_seq` advances as messages take seqs."""

    next_seq: int
    status: str
    handed_off: bool
    chatbot_id: str
    started_at: datetime
    first_visitor_now: bool  # the batch holds the conversation's first visitor message


def outcomes(
    writes: Sequence[Write],
    existing: Mapping[tuple[str, str], MessageView],
    state: Mapping[str, ConversationState],
    now: datetime,
) -> tuple[list[Stored | ConversationGone], list[tuple[Write, MessageView]]]:
    """Each write's outcome, and the new messages to insert (both commit paths share this).

    A write whose client_id is stored already answers with that message; a write to a
    conversation the UPDATE did not find is ConversationGone; the others take the next seqs.
    """
    results: list[Stored | ConversationGone] = []
    created: list[tuple[Write, MessageView]] = []
    for write in writes:
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
                started_at=conversation.started_at,
                first_visitor_message=first_visitor,
            )
        )
    return results, created


def stored_client_ids(
    connection: Connection, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], MessageView]:
    """The messages already stored under these (conversation_id, client_id) pairs."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    parameters: dict[str, str] = {}
    for index, (conversation_id, client_id) in enumerate(wanted):
        parameters[f"c{index}"] = conversation_id
        parameters[f"k{index}"] = client_id
    rows = connection.execute(_stored_client_ids_query(len(wanted)), parameters)
    return {(row.conversation_id, row.client_id): message_view(row) for row in rows}


def _advance(
    connection: Connection, writes: Sequence[Write], now: datetime
) -> dict[str, ConversationState]:
    """Reserve seqs for `writes`, conversations in id order, one UPDATE per distinct count."""
    counts = Counter(write.conversation_id for write in writes)
    visitor = sorted({w.conversation_id for w in writes if w.role == "visitor"})
    operator = sorted({w.conversation_id for w in writes if w.role == "operator"})
    by_count: dict[int, list[str]] = {}
    for conversation_id in sorted(counts):
        by_count.setdefault(counts[conversation_id], []).append(conversation_id)
    state: dict[str, ConversationState] = {}
    for count, ids in sorted(by_count.items()):
        parameters = {
            "ids": ids,
            "count": count,
            "now": now,
            "visitor_ids": visitor,
            "operator_ids": operator,
        }
        for row in connection.execute(_ADVANCE, parameters):
            state[row.id] = ConversationState(
                next_seq=row.last_seq - count + 1,
                status=row.status,
                handed_off=bool(row.handed_off),
                chatbot_id=row.chatbot_id,
                started_at=as_utc(row.started_at),
                first_visitor_now=bool(row.first_visitor_now),
            )
    return state


def commit_batch(
    connection: Connection, writes: Sequence[Write]
) -> list[Stored | ConversationGone]:
    """Store `writes` in the connection's transaction: each a Stored, or ConversationGone."""
    existing = stored_client_ids(connection, (key for w in writes if (key := w.key) is not None))
    fresh = [write for write in writes if write.key not in existing]
    now = utcnow()
    state = _advance(connection, fresh, now) if fresh else {}
    results, created = outcomes(writes, existing, state, now)
    rows = [
        {
            "id": message.id,
            "conversation_id": message.conversation_id,
            "seq": message.seq,
            "role": message.role,
            "text": message.text,
            "client_id": message.client_id,
            "author_id": write.author_id,
            "created_at": now,
        }
        for write, message in created
    ]
    if rows:
        connection.execute(_INSERT_MESSAGES, rows)
    return results
