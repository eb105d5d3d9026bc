"""One group-commit transaction on SQLite with the raw `sqlite3` driver, in the writer process.

Same semantics as `store_batch.commit_batch` (which PostgreSQL runs), without SQLAlchemy's
per-statement compile, bind and result processing (and without importing SQLAlchemy at all, so
that the writer process starts quickly). SQL strings are built once per shape; values
are stored in the formats SQLAlchemy's SQLite dialect uses, so both paths read each other's rows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

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
from chatbot.storage.values import utcnow, visitor_id_of
from chatbot.webhooks.events import DELIVERY_COLUMNS, Row

_MESSAGE_COLUMNS = "id, seq, conversation_id, role, text, client_id, created_at"
_INSERT = (
    "INSERT INTO messages (id, conversation_id, seq, role, text, client_id, author_id, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)

# Only while its chatbot exists (the writer's connection does not check foreign keys), and
# never one that was erased.
_INSERT_CONVERSATION = (
    "INSERT INTO conversations (id, chatbot_id, visitor_token_hash, visitor_id, status,"
    " last_seq, visitor_data, started_at, last_message_at, handed_off, channel, user_id)"
    " SELECT ?, ?, ?, ?, 'bot', ?, ?, ?, NULL, 0, ?, ?"
    " WHERE EXISTS (SELECT 1 FROM chatbots WHERE id = ?)"
    " AND NOT EXISTS (SELECT 1 FROM erased_conversations WHERE id = ?)"
    " ON CONFLICT DO NOTHING RETURNING id"
)
_STORED_OWNER_OF = "SELECT visitor_token_hash, user_id FROM conversations WHERE id = ?"
_INSERT_DELIVERY = (
    f"INSERT INTO webhook_deliveries ({', '.join(DELIVERY_COLUMNS)})"  # noqa: S608 (no input)
    f" VALUES ({', '.join('?' * len(DELIVERY_COLUMNS))})"
)


def _stamp(value: datetime) -> str:
    """A UTC datetime as SQLAlchemy's SQLite DateTime stores it."""
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


@lru_cache(maxsize=512)
def _client_ids_sql(count: int) -> str:
    """OR-ed (conversation_id, client_id) pairs: each an index lookup (see store_batch)."""
    pairs = " OR ".join(["(conversation_id = ? AND client_id = ?)"] * count)
    return f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE {pairs}"  # noqa: S608 (no input)


@lru_cache(maxsize=512)
def _advance_sql(count: int, visitor: bool, operator: bool) -> str:
    """Reserve seqs for `count` conversations; the first visitor/operator times when unset."""
    stamps = ["last_seq = last_seq + ?", "last_message_at = ?"]
    if visitor:
        stamps.append("first_visitor_message_at = coalesce(first_visitor_message_at, ?)")
    if operator:
        stamps.append("first_operator_message_at = coalesce(first_operator_message_at, ?)")
    marks = ", ".join(["?"] * count)
    return (
        f"UPDATE conversations SET {', '.join(stamps)} WHERE id IN ({marks}) "  # noqa: S608
        "RETURNING id, last_seq, status, handed_off, chatbot_id, started_at,"
        " first_visitor_message_at = ?"
    )


def _state(row: Any, count: int) -> ConversationState:
    """A conversation from its RETURNING row, `count` seqs reserved for this batch."""
    _, last_seq, status, handed_off, chatbot_id, started, first_now = row
    return ConversationState(
        next_seq=last_seq - count + 1,
        status=str(status),
        handed_off=bool(handed_off),
        chatbot_id=str(chatbot_id),
        started_at=_parse(started) if first_now else None,
        first_visitor_now=bool(first_now),
    )


def _stored(
    cursor: sqlite3.Cursor, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], MessageView]:
    if not keys:
        return {}
    parameters = [value for key in sorted(keys) for value in key]
    found: dict[tuple[str, str], MessageView] = {}
    for row in cursor.execute(_client_ids_sql(len(keys)), parameters):
        message = MessageView(
            id=row[0],
            seq=row[1],
            conversation_id=row[2],
            role=row[3],
            text=row[4],
            client_id=row[5],
            created_at=_parse(row[6]),
        )
        found[(message.conversation_id, row[5])] = message
    return found


def _advance(
    cursor: sqlite3.Cursor, writes: Sequence[Write], now: str
) -> dict[str, ConversationState]:
    """One UPDATE ... RETURNING per shape (seq count, visitor?, operator?), ids in order."""
    counts: dict[str, int] = {}
    visitor: set[str] = set()
    operator: set[str] = set()
    for write in writes:
        counts[write.conversation_id] = counts.get(write.conversation_id, 0) + 1
        if write.role == "visitor":
            visitor.add(write.conversation_id)
        elif write.role == "operator":
            operator.add(write.conversation_id)
    shapes: dict[tuple[int, bool, bool], list[str]] = {}
    for conversation_id in sorted(counts):
        shape = (counts[conversation_id], conversation_id in visitor, conversation_id in operator)
        shapes.setdefault(shape, []).append(conversation_id)
    state: dict[str, ConversationState] = {}
    for (count, is_visitor, is_operator), ids in sorted(shapes.items()):
        parameters: list[object] = [count, now]
        if is_visitor:
            parameters.append(now)
        if is_operator:
            parameters.append(now)
        parameters.extend(ids)
        parameters.append(now)
        sql = _advance_sql(len(ids), is_visitor, is_operator)
        for row in cursor.execute(sql, parameters).fetchall():
            state[row[0]] = _state(row, count)
    return state


def _insert_webhook_rows(cursor: sqlite3.Cursor, rows: list[Row]) -> None:
    """Write these events to the outbox, times as SQLAlchemy stores them."""
    cursor.executemany(
        _INSERT_DELIVERY,
        [tuple(_stamp(v) if isinstance(v, datetime) else v for v in row) for row in rows],
    )


def _store_conversations(
    cursor: sqlite3.Cursor, new: Sequence[NewConversation]
) -> tuple[set[str], list[NewConversation]]:
    """As `store_batch.store_conversations`: one statement each (a first message is rare)."""
    foreign: set[str] = set()
    stored_now: list[NewConversation] = []
    for c in new:
        values = (
            c.id,
            c.chatbot_id,
            c.visitor_token_hash,
            visitor_id_of(c.visitor_token_hash),
            1 if c.greeting_text else 0,
            json.dumps(dict(c.visitor_data)),
            _stamp(c.started_at),
            c.channel,
            c.user_id,
            c.chatbot_id,
            c.id,
        )
        if cursor.execute(_INSERT_CONVERSATION, values).fetchall():
            stored_now.append(c)
            if (g := c.greeting) is not None:
                stamp = _stamp(g.created_at)
                row = (g.id, g.conversation_id, g.seq, g.role, g.text, None, None, stamp)
                cursor.execute(_INSERT, row)
            continue
        stored = cursor.execute(_STORED_OWNER_OF, (c.id,)).fetchone()
        if stored is not None and tuple(stored) != (c.visitor_token_hash, c.user_id):
            foreign.add(c.id)
    return foreign, stored_now


def commit_batch_sqlite(
    connection: sqlite3.Connection, writes: Sequence[Write]
) -> list[Stored | ConversationGone]:
    """Store `writes` in one transaction and commit it: each a Stored, or ConversationGone."""
    cursor = connection.cursor()
    try:
        # IMMEDIATE: take the write lock before the duplicate check, so that no other process
        # stores one of these client_ids between the check and the insert.
        cursor.execute("BEGIN IMMEDIATE")
        new = new_conversations(writes)
        foreign, stored_now = _store_conversations(cursor, new) if new else (set(), [])
        keys = {key for write in writes if (key := write.key) is not None}
        existing = _stored(cursor, keys)
        now = utcnow()
        stamp = _stamp(now)
        fresh = writes
        if existing or foreign:
            fresh = [w for w in writes if w.key not in existing and not is_refused(w, foreign)]
        state = _advance(cursor, fresh, stamp) if fresh else {}
        results, created = outcomes(writes, existing, state, now, foreign)
        rows = [
            (
                message.id,
                message.conversation_id,
                message.seq,
                message.role,
                message.text,
                message.client_id,
                write.author_id,
                stamp,
            )
            for write, message in created
        ]
        if rows:
            cursor.executemany(_INSERT, rows)
        hooked = hooks_of(writes)
        if hooked:
            _insert_webhook_rows(cursor, webhook_rows(hooked, stored_now, created, state, now))
        connection.commit()
        return results
    except BaseException:
        connection.rollback()
        raise
    finally:
        cursor.close()
