"""Identifiers and timestamps as the storage layer writes and the API shows them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with a `Z`-free explicit offset, e.g. 2026-01-02T03:04:05.678901+00:00."""
    return None if value is None else as_utc(value).isoformat()
