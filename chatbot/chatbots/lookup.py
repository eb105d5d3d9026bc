"""Cached chatbot lookups for the widget and the chat, invalidated on every change.

Entries live in the app's cache: in-process for one instance, Redis when several instances
share it, so that a change written by one instance is seen by all at once. Every write
(`actions.py`) deletes the entries after its commit; the short ttl bounds what a lost delete
could leave.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aiohttp import web

from chatbot import keys
from chatbot.chatbots.repository import ChatbotRecord, load_chatbot
from chatbot.chatbots.slugs import slug_problem

CACHE_TTL_SECONDS = 60.0
# Cached for unknown slugs too, so that probing random slugs does not reach the database.
_MISSING = b"-"


def _slug_key(slug: str) -> str:
    return f"chatbot:slug:{slug}"


def _id_key(chatbot_id: str) -> str:
    return f"chatbot:id:{chatbot_id}"


def _encode(record: ChatbotRecord) -> bytes:
    data: dict[str, Any] = {
        "id": record.id,
        "workspace_id": record.workspace_id,
        "owner_id": record.owner_id,
        "slug": record.slug,
        "name": record.name,
        "greeting": record.greeting,
        "allowed_origins": list(record.allowed_origins),
        "brain": dict(record.brain),
        "theme": dict(record.theme),
        "token_budget": dict(record.token_budget),
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
        "retention_days": record.retention_days,
        "identity_verification": record.identity_verification,
        "identity_secret": record.identity_secret,
    }
    return json.dumps(data, separators=(",", ":")).encode()


def _decode(raw: bytes) -> ChatbotRecord | None:
    if raw == _MISSING:
        return None
    data = json.loads(raw)
    return ChatbotRecord(
        id=data["id"],
        workspace_id=data["workspace_id"],
        owner_id=data["owner_id"],
        slug=data["slug"],
        name=data["name"],
        greeting=data["greeting"],
        allowed_origins=tuple(data["allowed_origins"]),
        brain=data["brain"],
        theme=data["theme"],
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
        token_budget=data.get("token_budget") or {},
        retention_days=data["retention_days"],
        identity_verification=data["identity_verification"],
        identity_secret=data["identity_secret"],
    )


async def _cached(
    app: web.Application, key: str, *, chatbot_id: str | None = None, slug: str | None = None
) -> ChatbotRecord | None:
    cache = app[keys.CACHE]
    raw = await cache.get(key)
    if raw is not None:
        try:
            return _decode(raw)
        except (ValueError, KeyError, TypeError):
            await cache.delete(key)  # written by an incompatible version: read afresh
    record = await load_chatbot(app[keys.ENGINE], chatbot_id=chatbot_id, slug=slug)
    await cache.set(key, _MISSING if record is None else _encode(record), CACHE_TTL_SECONDS)
    return record


async def chatbot_by_slug(app: web.Application, slug: str) -> ChatbotRecord | None:
    """The chatbot with this slug (any workspace), or None; cached."""
    if slug_problem(slug) is not None:
        return None
    return await _cached(app, _slug_key(slug), slug=slug)


async def chatbot_by_id(app: web.Application, chatbot_id: str) -> ChatbotRecord | None:
    """The chatbot with this id (any workspace), or None; cached."""
    if not chatbot_id or len(chatbot_id) > 36:
        return None
    return await _cached(app, _id_key(chatbot_id), chatbot_id=chatbot_id)


async def forget_chatbot(app: web.Application, *records: ChatbotRecord | None) -> None:
    """Drop the cached entries of these chatbots (before and after a change) everywhere."""
    cache = app[keys.CACHE]
    for key in dict.fromkeys(
        key
        for record in records
        if record is not None
        for key in (_slug_key(record.slug), _id_key(record.id))
    ):
        await cache.delete(key)
