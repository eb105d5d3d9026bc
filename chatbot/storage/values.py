"""Identifiers and timestamps as the storage layer writes and the API shows them."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

import uuid_utils

_VISITOR_ID_LABEL = "chatbot visitor id v1:"
VISITOR_ID_LENGTH = 32


def new_id() -> str:
    """A UUIDv7: time-ordered, so that new rows append to their primary-key index instead of
    landing on a random page of it (each random page is one more page written per commit)."""
    return str(uuid_utils.uuid7())


def random_secret() -> str:
    """A fresh random secret: 64 hex characters (256 bits)."""
    return secrets.token_hex(32)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value.tzinfo is UTC:
        return value  # the common case (every message shown): no conversion to make
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with a `Z`-free explicit offset, e.g. 2026-01-02T03:04:05.678901+00:00."""
    return None if value is None else as_utc(value).isoformat()


def visitor_id_of(visitor_token_hash: str) -> str:
    """The visitor id of a conversation: 32 hex characters derived from its visitor token's
    SHA-256. Stable for the token, and it reveals neither the token nor its hash."""
    digest = hashlib.sha256((_VISITOR_ID_LABEL + visitor_token_hash).encode()).hexdigest()
    return digest[:VISITOR_ID_LENGTH]
