"""Which stored conversation an API call continues, or the new one it starts (channel `api`).

- The `X-Conversation-Id` header names an API conversation of the chatbot to continue.
- Otherwise the request's `user` names it: one conversation per chatbot and user, its id
  derived from both, so that concurrent first calls of one user meet in one conversation.
- Otherwise each call starts a conversation of its own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.chat.conversations import token_hash
from chatbot.chat.writes import NewConversation
from chatbot.errors import NotFound
from chatbot.storage.schema import conversations
from chatbot.storage.values import new_id, utcnow
from chatbot.vocabulary import Channel

CONVERSATION_HEADER = "X-Conversation-Id"
API_CHANNEL: Channel = "api"
_ID_LENGTH = 36


@dataclass(frozen=True, slots=True)
class ApiConversation:
    """The conversation of one call; `new` until its first message stores it."""

    id: str
    status: str
    new: NewConversation | None = None


def user_conversation_id(chatbot_id: str, user: str) -> str:
    """The id of the conversation of `user` with the chatbot (the same on every instance)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"chatbot:{chatbot_id}/api-user:{user}"))


def _new(conversation_id: str, chatbot_id: str) -> ApiConversation:
    # API conversations have no visitor token; the unique column gets a value no token hashes to.
    new = NewConversation(
        id=conversation_id,
        chatbot_id=chatbot_id,
        visitor_token_hash=token_hash(f"api:{conversation_id}"),
        started_at=utcnow(),
        greeting_text="",
        visitor_data={},
        channel=API_CHANNEL,
    )
    return ApiConversation(conversation_id, "bot", new)


async def _stored_status(engine: AsyncEngine, chatbot_id: str, conversation_id: str) -> str | None:
    c = conversations.c
    query = select(c.status).where(
        c.id == conversation_id, c.chatbot_id == chatbot_id, c.channel == API_CHANNEL
    )
    async with engine.connect() as connection:
        status: str | None = await connection.scalar(query)
    return status


async def api_conversation(
    engine: AsyncEngine, chatbot_id: str, *, named: str | None, user: str | None
) -> ApiConversation:
    """The conversation the call continues or starts (see the module's docstring)."""
    if named is not None:
        named = named.strip()
        status = None
        if 0 < len(named) <= _ID_LENGTH:
            status = await _stored_status(engine, chatbot_id, named)
        if status is None:
            raise NotFound(
                f"no API conversation {named!r} with this model: send the {CONVERSATION_HEADER} "
                "of an earlier answer from the same model, or none to start a new conversation",
                code="conversation_not_found",
                param=CONVERSATION_HEADER,
            )
        return ApiConversation(named, status)
    if user is not None:
        conversation_id = user_conversation_id(chatbot_id, user)
        status = await _stored_status(engine, chatbot_id, conversation_id)
        if status is not None:
            return ApiConversation(conversation_id, status)
        return _new(conversation_id, chatbot_id)
    return _new(new_id(), chatbot_id)
