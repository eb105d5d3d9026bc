"""Query parameters and response bodies of the conversation routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from chatbot.fields.types import Rfc3339, omitted
from chatbot.vocabulary import Channel, Role, Status


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
    assignee: Literal["me", "none", "all"] = Field(
        default="all",
        description="`me`: assigned to the caller; `none`: assigned to nobody; `all`: every one",
    )


class AssignmentIn(BaseModel):
    """`PATCH /api/conversations/{id}/`: who works the conversation (null: nobody)."""

    model_config = ConfigDict(extra="forbid")

    assignee_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = Field(
        description="a member's user id, or null to assign nobody"
    )


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


class AssigneeOut(BaseModel):
    id: str
    name: str


class ConversationOut(BaseModel):
    id: str
    chatbot_id: str
    visitor_id: str = Field(description="the visitor behind it: export or erase them by it")
    workspace_id: str
    status: Status
    started_at: str
    last_message_at: str | None
    last_seq: int
    handed_off: bool
    channel: Channel = Field(
        description="where the conversation came from: the widget, or the OpenAI-compatible API"
    )
    last_message: MessageOut | None
    user_id: str | None = Field(
        description="the site's id of a visitor who proved it (identity verification); "
        "null for an anonymous visitor"
    )
    assignee: AssigneeOut | None = Field(description="the member working it, or null")


class ConversationList(BaseModel):
    items: list[ConversationOut]


class MessageList(BaseModel):
    items: list[MessageOut]
    has_more: bool = Field(description="more messages follow: ask again with after=the last seq")


class MemberPresence(BaseModel):
    user_id: str
    online: bool = Field(description="an operator socket of theirs is open, on any instance")


class PresenceList(BaseModel):
    items: list[MemberPresence]
