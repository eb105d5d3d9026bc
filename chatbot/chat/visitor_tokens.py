"""Visitor tokens that name their conversation, so that one never stored can still be resumed.

A conversation is stored at its visitor's first message, not when the socket opens. Until then
only the token knows it: `CONVERSATION.STARTED.NONCE.SIGNATURE`, the signature an HMAC-SHA256 of
the chatbot id and the rest, keyed from the server's secret key. STARTED (microseconds since
the epoch, hex) is the conversation's start and its greeting's time, so that a reload shows the
same greeting that the first message then stores. The random NONCE keeps the token secret even
from whoever knows the conversation id and the key. Once stored, the conversation is found by
the token's SHA-256 as before, and a signed token for a conversation stored under another token
is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_KEY_LABEL = b"chatbot visitor token key v1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def signing_key(secret: str) -> bytes:
    """The 32-byte HMAC key for visitor tokens, derived from the server's secret key."""
    return hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class SignedConversation:
    """What a valid token says: the conversation's id and when it started."""

    conversation_id: str
    started_at: datetime


def _signature(key: bytes, chatbot_id: str, body: str) -> str:
    digest = hmac.new(key, f"{chatbot_id}.{body}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue(key: bytes, chatbot_id: str, conversation_id: str, started_at: datetime) -> str:
    """A new token for a conversation of this chatbot started at `started_at` (UTC)."""
    started = (started_at - _EPOCH) // _MICROSECOND
    body = f"{conversation_id}.{started:x}.{secrets.token_urlsafe(16)}"
    return f"{body}.{_signature(key, chatbot_id, body)}"


def read(key: bytes, chatbot_id: str, token: str) -> SignedConversation | None:
    """The conversation a token of this chatbot names, or None (not signed by us for it)."""
    body, _, signature = token.rpartition(".")
    parts = body.split(".")
    if len(parts) != 3:
        return None
    expected = _signature(key, chatbot_id, body).encode()
    if not hmac.compare_digest(signature.encode("utf-8", "backslashreplace"), expected):
        return None
    conversation_id, started, _ = parts
    return SignedConversation(conversation_id, _EPOCH + int(started, 16) * _MICROSECOND)
