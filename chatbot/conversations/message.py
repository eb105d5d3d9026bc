"""A stored message as the API shows it (no database imports: the SQLite writer process uses it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chatbot.storage.values import iso
from chatbot.vocabulary import Role


# Built for every message: not frozen, since a frozen dataclass's __init__ sets each field through
# object.__setattr__, a much slower call. Nothing changes one after it is built.
@dataclass(slots=True)
class MessageView:
    """A stored message, shown the contract's way by `as_json`."""

    id: str
    seq: int
    conversation_id: str
    role: Role
    text: str
    client_id: str | None
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "conversation_id": self.conversation_id,
            "role": self.role,
            "text": self.text,
            "client_id": self.client_id,
            "created_at": iso(self.created_at),
        }
