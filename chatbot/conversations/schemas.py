"""Query parameters and response bodies of the conversation routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from chatbot.openapi.fields import Rfc3339, omitted

Role = Literal["visitor", "bot", "operator"]
Status = Literal["bot", "waiting_for_human", "human", "closed"]


class _Query(BaseModel):
    # Unknown parameters are ignored, as on the web: cache busters like `?_=123` must not fail.
    model_config = ConfigDict(extra="ignore")


class InboxQuery(_Query):
    """`?limit=&before=&status=` of the conversations list."""

    limit: int = Field(default=50, ge=1, le=200)
    # RFC 3339, offset included (a `last_message_at` as answered, `+` written %2B or as Z).
    before: Annotated[datetime | None, Rfc3339()] = omitted(
        "only conversations whose last message is older (RFC 3339, like 2026-01-02T03:04:05Z)"
    )
    status: Status | None = omitted()


class MessagesQuery(_Query):
    """`?after=SEQ&limit=` of a conversation's messages."""

    after: int = Field(default=0, ge=0, le=2**31 - 1)
    limit: int = Field(default=1000, ge=1, le=1000)


class MessageOut(BaseModel):
    id: str
    seq: int
    conversation_id: str
    role: Role
    text: str
    client_id: str | None
    created_at: str


class ConversationOut(BaseModel):
    id: str
    chatbot_id: str
    workspace_id: str
    status: Status
    started_at: str
    last_message_at: str | None
    last_seq: int
    handed_off: bool
    last_message: MessageOut | None


class ConversationList(BaseModel):
    items: list[ConversationOut]


class MessageList(BaseModel):
    items: list[MessageOut]
    has_more: bool = Field(description="more messages follow: ask again with after=the last seq")
