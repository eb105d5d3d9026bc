"""Chatbot rows: create, read, update and delete; callers check the workspace policy first."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatbot.chatbots.slugs import SLUG_MAX, first_free, slugify
from chatbot.storage.schema import chatbots
from chatbot.storage.values import as_utc, new_id, utcnow

_GENERATED_SLUG_ATTEMPTS = 5


class SlugTaken(Exception):
    """Another chatbot already uses this slug."""

    def __init__(self, slug: str) -> None:
        super().__init__(slug)
        self.slug = slug


@dataclass(frozen=True, slots=True)
class ChatbotRecord:
    """A chatbot as the server uses it; `brain` is the full config, secrets included."""

    id: str
    workspace_id: str
    owner_id: str  # who created it
    slug: str
    name: str
    greeting: str
    allowed_origins: tuple[str, ...]
    brain: Mapping[str, Any]
    theme: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime


def _record(row: Row[Any]) -> ChatbotRecord:
    return ChatbotRecord(
        id=row.id,
        workspace_id=row.workspace_id,
        owner_id=row.owner_id,
        slug=row.slug,
        name=row.name,
        greeting=row.greeting,
        allowed_origins=tuple(row.allowed_origins or ()),
        brain=dict(row.brain or {}),
        theme=dict(row.theme or {}),
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


async def _slug_exists(connection: AsyncConnection, slug: str) -> bool:
    found = await connection.execute(select(chatbots.c.id).where(chatbots.c.slug == slug))
    return found.first() is not None


async def _free_slug(connection: AsyncConnection, base: str) -> str:
    """The first free slug among base, base-2, base-3... read in one query."""
    pattern = base.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = await connection.execute(
        select(chatbots.c.slug).where(chatbots.c.slug.like(pattern, escape="\\"))
    )
    return first_free(base, {row.slug for row in rows})


async def create_chatbot(
    engine: AsyncEngine,
    *,
    workspace_id: str,
    owner_id: str,
    name: str,
    slug: str | None,
    greeting: str,
    allowed_origins: list[str],
    brain: Mapping[str, Any],
    theme: Mapping[str, Any],
) -> ChatbotRecord:
    """Insert a chatbot; a generated slug gets a free suffix, a chosen one raises SlugTaken."""
    now = utcnow()
    values = {
        "id": new_id(),
        "workspace_id": workspace_id,
        "owner_id": owner_id,
        "name": name,
        "greeting": greeting,
        "allowed_origins": list(allowed_origins),
        "brain": dict(brain),
        "theme": dict(theme),
        "created_at": now,
        "updated_at": now,
    }
    base = slugify(name)[:SLUG_MAX]
    # Two requests may pick the same free generated slug at once: the loser tries again.
    for _ in range(_GENERATED_SLUG_ATTEMPTS):
        if slug is not None:
            candidate = slug
        else:
            async with engine.connect() as connection:
                candidate = await _free_slug(connection, base)
        try:
            async with engine.begin() as connection:
                await connection.execute(insert(chatbots).values(slug=candidate, **values))
                row = (
                    await connection.execute(select(chatbots).where(chatbots.c.id == values["id"]))
                ).one()
            return _record(row)
        except IntegrityError:
            async with engine.connect() as connection:
                taken = await _slug_exists(connection, candidate)
            if not taken:
                raise
            if slug is not None:
                raise SlugTaken(slug) from None
    raise SlugTaken(base)


async def list_chatbots(engine: AsyncEngine, workspace_ids: Collection[str]) -> list[ChatbotRecord]:
    """The chatbots of these workspaces, oldest first."""
    if not workspace_ids:
        return []
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(chatbots)
            .where(chatbots.c.workspace_id.in_(list(workspace_ids)))
            .order_by(chatbots.c.created_at, chatbots.c.id)
        )
        return [_record(row) for row in rows]


async def load_chatbot(
    engine: AsyncEngine, *, chatbot_id: str | None = None, slug: str | None = None
) -> ChatbotRecord | None:
    """A chatbot by id or by slug, in whichever workspace (callers check the policy)."""
    condition = chatbots.c.id == chatbot_id if chatbot_id is not None else chatbots.c.slug == slug
    async with engine.connect() as connection:
        row = (await connection.execute(select(chatbots).where(condition))).first()
    return None if row is None else _record(row)


async def update_chatbot(
    engine: AsyncEngine, chatbot_id: str, changes: Mapping[str, Any]
) -> tuple[ChatbotRecord, ChatbotRecord] | None:
    """Apply `changes`; returns (before, after), or None when it no longer exists."""
    owned = (chatbots.c.id == chatbot_id,)
    try:
        async with engine.begin() as connection:
            row = (await connection.execute(select(chatbots).where(*owned))).first()
            if row is None:
                return None
            before = _record(row)
            values = {**changes, "updated_at": utcnow()}
            await connection.execute(update(chatbots).where(*owned).values(**values))
            after = (await connection.execute(select(chatbots).where(*owned))).one()
    except IntegrityError:
        slug = changes.get("slug")
        if slug is None:
            raise
        raise SlugTaken(slug) from None
    return before, _record(after)


async def delete_chatbot(engine: AsyncEngine, chatbot_id: str) -> ChatbotRecord | None:
    """Delete the chatbot with its knowledge and conversations; returns what was deleted."""
    owned = (chatbots.c.id == chatbot_id,)
    async with engine.begin() as connection:
        row = (await connection.execute(select(chatbots).where(*owned))).first()
        if row is None:
            return None
        await connection.execute(delete(chatbots).where(*owned))
    return _record(row)
