"""Visitor tokens: signed for one chatbot, naming their conversation and its start."""

from __future__ import annotations

from datetime import UTC, datetime

from chatbot.chat import visitor_tokens
from chatbot.chat.visitor_tokens import SignedConversation

KEY = visitor_tokens.signing_key("a secret key that is long enough for the tests")
STARTED = datetime(2026, 12, 7, 16, 0, 0, 123456, tzinfo=UTC)


def test_a_token_names_its_conversation_and_its_start_to_the_microsecond() -> None:
    token = visitor_tokens.issue(KEY, "bot-1", "conversation-1", STARTED)

    assert visitor_tokens.read(KEY, "bot-1", token) == SignedConversation("conversation-1", STARTED)


def test_two_tokens_for_one_conversation_differ() -> None:
    first = visitor_tokens.issue(KEY, "bot-1", "conversation-1", STARTED)
    second = visitor_tokens.issue(KEY, "bot-1", "conversation-1", STARTED)

    assert first != second


def test_a_token_of_another_chatbot_or_key_is_not_read() -> None:
    token = visitor_tokens.issue(KEY, "bot-1", "conversation-1", STARTED)
    other_key = visitor_tokens.signing_key("another secret key, just as long as the first")

    assert visitor_tokens.read(KEY, "bot-2", token) is None
    assert visitor_tokens.read(other_key, "bot-1", token) is None


def test_a_changed_token_is_not_read() -> None:
    token = visitor_tokens.issue(KEY, "bot-1", "conversation-1", STARTED)
    conversation, started, nonce, signature = token.split(".")

    for changed in (
        f"conversation-2.{started}.{nonce}.{signature}",
        f"{conversation}.{int(started, 16) + 1:x}.{nonce}.{signature}",
        f"{conversation}.{started}.{nonce}x.{signature}",
        f"{conversation}.{started}.{nonce}.{signature[:-1]}é",
    ):
        assert visitor_tokens.read(KEY, "bot-1", changed) is None


def test_tokens_that_are_not_ours_are_not_read() -> None:
    for token in ("", ".", "...", "a.b.c.d.e", "x" * 43, "ünïcode.token.here.sig"):
        assert visitor_tokens.read(KEY, "bot-1", token) is None
