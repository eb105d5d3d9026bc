"""Webhook events: their types, the subscriptions a write carries, and their outbox rows.

Pure and free of SQLAlchemy: the SQLite writer process builds its rows with it too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from chatbot.conversations.message import MessageView
from chatbot.storage.values import iso, new_id

CONVERSATION_CREATED = "conversation.created"
MESSAGE_CREATED = "message.created"
STATUS_CHANGED = "conversation.status_changed"
VISITOR_ERASED = "visitor.erased"
# What "send test event" sends, to one webhook only; nobody subscribes to it.
TEST_EVENT = "webhook.test"
EVENT_TYPES = (CONVERSATION_CREATED, MESSAGE_CREATED, STATUS_CHANGED, VISITOR_ERASED)

# The outbox row's columns, in the order `event_rows` builds them.
DELIVERY_COLUMNS = (
    "id",
    "webhook_id",
    "event_id",
    "event_type",
    "body",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)
Row = tuple[str, str, str, str, str, str, int, datetime, datetime]


class Hooks(NamedTuple):
    """A workspace's enabled webhooks for each event type, as a write carries them.

    A named tuple: it crosses to the SQLite writer process with each write that has one.
    """

    workspace_id: str
    targets: Mapping[str, tuple[str, ...]]  # event type -> webhook ids


def new_event_id() -> str:
    """The `webhook-id` of an event: the same for every webhook and every retry."""
    return "msg_" + new_id().replace("-", "")


def encode_body(event_type: str, at: datetime, data: Mapping[str, Any]) -> str:
    """The JSON body of a delivery: `{"type", "timestamp", "data"}`."""
    payload = {"type": event_type, "timestamp": iso(at), "data": data}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def event_rows(
    hooks: Hooks | None, event_type: str, data: Mapping[str, Any], at: datetime
) -> list[Row]:
    """One pending delivery per webhook of `hooks` subscribed to `event_type`, due now."""
    targets = hooks.targets.get(event_type) if hooks is not None else None
    if not targets:
        return []
    event_id = new_event_id()
    body = encode_body(event_type, at, data)
    return [
        (new_id(), webhook_id, event_id, event_type, body, "pending", 0, at, at)
        for webhook_id in targets
    ]


def as_values(rows: list[Row]) -> list[dict[str, Any]]:
    """Rows as the column mappings an INSERT takes."""
    return [dict(zip(DELIVERY_COLUMNS, row, strict=True)) for row in rows]


def message_data(message: MessageView, chatbot_id: str, workspace_id: str) -> dict[str, Any]:
    """A `message.created` event's data: the message, with its chatbot and workspace."""
    return {**message.as_json(), "chatbot_id": chatbot_id, "workspace_id": workspace_id}


def conversation_data(conversation: Mapping[str, Any], workspace_id: str) -> dict[str, Any]:
    """A conversation event's data: the conversation as the API shows it, with its workspace."""
    return {**conversation, "workspace_id": workspace_id}


def new_conversation_data(
    conversation_id: str,
    chatbot_id: str,
    workspace_id: str,
    started_at: datetime,
    greeting: MessageView | None,
) -> dict[str, Any]:
    """A `conversation.created` event's data: the conversation as it was just stored."""
    conversation = {
        "id": conversation_id,
        "chatbot_id": chatbot_id,
        "status": "bot",
        "started_at": iso(started_at),
        "last_message_at": None,
        "last_seq": 0 if greeting is None else greeting.seq,
        "handed_off": False,
        "last_message": None if greeting is None else greeting.as_json(),
    }
    return conversation_data(conversation, workspace_id)


def erased_data(
    chatbot_id: str,
    workspace_id: str,
    visitor_id: str,
    conversation_ids: Sequence[str],
    erased_at: datetime,
) -> dict[str, Any]:
    """A `visitor.erased` event's data: ids and a count only, no message text nor identity
    data, so that receivers can erase their own copies without learning anything new."""
    return {
        "chatbot_id": chatbot_id,
        "workspace_id": workspace_id,
        "visitor_id": visitor_id,
        "conversations": len(conversation_ids),
        "conversation_ids": list(conversation_ids),
        "erased_at": iso(erased_at),
    }
