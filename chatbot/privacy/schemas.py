"""Response bodies of the visitor data routes (for the OpenAPI document)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from chatbot.conversations.schemas import MessageOut
from chatbot.vocabulary import Status


class ExportedConversation(BaseModel):
    id: str
    chatbot_id: str
    visitor_id: str
    status: Status
    started_at: str
    last_message_at: str | None
    last_seq: int
    handed_off: bool
    visitor_data: dict[str, Any] = Field(description="what the page passed to identify()")
    messages: list[MessageOut]


class VisitorExport(BaseModel):
    """Everything stored about one visitor of a chatbot."""

    visitor_id: str
    user_id: str | None = Field(description="the verified user id, if any")
    exported_at: str
    conversations: list[ExportedConversation]
