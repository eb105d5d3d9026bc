"""One group-commit transaction as plain synchronous Core.

PostgreSQL runs it through `run_sync`; SQLite runs `store_sqlite.commit_batch_sqlite`, the same
transaction on the raw driver in the writer process (`chat.writes` holds what both share).
Statements are built once; lists are expanding or cached per size, so that SQLAlchemy compiles
each form once. A visitor's first message carries its conversation, not stored yet: the
transaction stores it and its greeting first (`store_conversations`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

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
from sqlalchemy.dialects import postgresql, sqlite

from chatbot.chat.writes import (
    ConversationGone,
    ConversationState,
    NewConversation,
    Stored,
    Write,
    hooks_of,
    is_refused,
    new_conversations,
    outcomes,
    webhook_rows,
)
from chatbot.conversations.message import MessageView
from chatbot.conversations.repository import message_view
from chatbot.storage.schema import (
    chatbots,
    conversations,
    erased_conversations,
    messages,
    webhook_deliveries,
)
from chatbot.storage.values import as_utc, utcnow, visitor_id_of
from chatbot.webhooks.events import Row, as_values

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
_INSERT_DELIVERIES = insert(webhook_deliveries)


def insert_webhook_rows(connection: Connection, rows: list[Row]) -> None:
    """Write these events to the outbox, in the connection's transaction."""
    if rows:
        connection.execute(_INSERT_DELIVERIES, as_values(rows))


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


def store_conversations(
    connection: Connection, new: Sequence[NewConversation]
) -> tuple[set[str], list[NewConversation]]:
    """Store the conversations not stored yet, each with its greeting as seq 1, in the
    connection's transaction; returns the ids already stored under another visitor token (or
    for another verified user), and the conversations stored now.

    A conversation whose chatbot is gone, or that was erased, is not stored (its write finds no
    conversation).
    """
    if not new:
        return set(), []
    chatbot_ids = {c.chatbot_id for c in new}
    live = set(connection.scalars(select(chatbots.c.id).where(chatbots.c.id.in_(chatbot_ids))))
    erased_ids = erased_conversations.c.id
    erased = set(connection.scalars(select(erased_ids).where(erased_ids.in_([c.id for c in new]))))
    rows = [
        {
            "id": c.id,
            "chatbot_id": c.chatbot_id,
            "visitor_token_hash": c.visitor_token_hash,
            "visitor_id": visitor_id_of(c.visitor_token_hash),
            "status": "bot",
            "last_seq": 1 if c.greeting_text else 0,
            "visitor_data": dict(c.visitor_data),
            "started_at": c.started_at,
            "last_message_at": None,
            "handed_off": False,
            "channel": c.channel,
            "user_id": c.user_id,
        }
        for c in new
        if c.chatbot_id in live and c.id not in erased
    ]
    inserted: set[str] = set()
    if rows:
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(conversations).on_conflict_do_nothing().returning(_c.id)
        inserted = set(connection.scalars(statement, rows))
    greetings = [g for c in new if c.id in inserted and (g := c.greeting) is not None]
    if greetings:
        connection.execute(
            _INSERT_MESSAGES,
            [
                {
                    "id": g.id,
                    "conversation_id": g.conversation_id,
                    "seq": g.seq,
                    "role": g.role,
                    "text": g.text,
                    "client_id": None,
                    "author_id": None,
                    "created_at": g.created_at,
                }
                for g in greetings
            ],
        )
    stored_now = [c for c in new if c.id in inserted]
    others = {c.id: (c.visitor_token_hash, c.user_id) for c in new if c.id not in inserted}
    if not others:
        return set(), stored_now
    stored = connection.execute(
        select(_c.id, _c.visitor_token_hash, _c.user_id).where(_c.id.in_(list(others)))
    ).all()
    foreign = {row.id for row in stored if (row.visitor_token_hash, row.user_id) != others[row.id]}
    return foreign, stored_now


def commit_batch(
    connection: Connection, writes: Sequence[Write]
) -> list[Stored | ConversationGone]:
    """Store `writes` in the connection's transaction: each a Stored, or ConversationGone."""
    foreign, stored_now = store_conversations(connection, new_conversations(writes))
    existing = stored_client_ids(connection, (key for w in writes if (key := w.key) is not None))
    fresh = [w for w in writes if w.key not in existing and not is_refused(w, foreign)]
    now = utcnow()
    state = _advance(connection, fresh, now) if fresh else {}
    results, created = outcomes(writes, existing, state, now, foreign)
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
    hooked = hooks_of(writes)
    if hooked:
        insert_webhook_rows(connection, webhook_rows(hooked, stored_now, created, state, now))
    return results
