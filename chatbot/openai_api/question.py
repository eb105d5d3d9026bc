"""The request's messages read as the chatbot sees them: the question and the turns before it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chatbot.brains.base import Turn
from chatbot.errors import ValidationFailed
from chatbot.openai_api.schemas import ChatMessage

_TURN_ROLES = frozenset({"user", "assistant"})


@dataclass(frozen=True, slots=True)
class Question:
    """The last user message and the user and assistant turns before it, oldest first."""

    text: str
    earlier: list[Turn]


def _invalid(field: str, message: str, code: str = "validation_error") -> ValidationFailed:
    return ValidationFailed(
        f"{field}: {message}", code=code, fields=[{"field": field, "message": message}]
    )


def read_question(
    messages: Sequence[ChatMessage], *, max_messages: int, max_text_length: int
) -> Question:
    """The question to answer, or 422 saying what is wrong with `messages`."""
    if len(messages) > max_messages:
        raise _invalid("messages", f"at most {max_messages} messages, not {len(messages)}")
    last = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].role == "user"), None)
    if last is None:
        raise _invalid("messages", "no message with role 'user': there is nothing to answer")
    text = messages[last].text.strip()
    field = f"messages.{last}.content"
    if not text:
        raise _invalid(field, "the last user message is empty")
    if len(text) > max_text_length:
        raise _invalid(
            field,
            f"the last user message has {len(text)} characters; at most {max_text_length}",
            code="text_too_long",
        )
    earlier = [
        Turn(role="visitor" if message.role == "user" else "bot", text=turn)
        for message in messages[:last]
        if message.role in _TURN_ROLES and (turn := message.text.strip())
    ]
    return Question(text=text, earlier=earlier)
