"""API key rows: create, list, delete, find by hash, and record when keys were last used."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.storage.schema import api_keys
from chatbot.storage.values import as_utc, new_id, utcnow


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A key as lists show it: never the key itself."""

    id: str
    workspace_id: str
    name: str
    hint: str
    created_by: str | None
    created_at: datetime
    last_used_at: datetime | None


_COLUMNS = (
    api_keys.c.id,
    api_keys.c.workspace_id,
    api_keys.c.name,
    api_keys.c.hint,
    api_keys.c.created_by,
    api_keys.c.created_at,
    api_keys.c.last_used_at,
)


def _record(row: Any) -> KeyRecord:
    return KeyRecord(
        id=row.id,
        workspace_id=row.workspace_id,
        name=row.name,
        hint=row.hint,
        created_by=row.created_by,
        created_at=as_utc(row.created_at),
        last_used_at=None if row.last_used_at is None else as_utc(row.last_used_at),
    )


async def insert_key(
    engine: AsyncEngine,
    *,
    workspace_id: str,
    name: str,
    key_hash: str,
    hint: str,
    created_by: str | None,
) -> KeyRecord:
    record = KeyRecord(new_id(), workspace_id, name, hint, created_by, utcnow(), None)
    async with engine.begin() as connection:
        await connection.execute(
            insert(api_keys).values(
                id=record.id,
                workspace_id=workspace_id,
                name=name,
                key_hash=key_hash,
                hint=hint,
                created_by=created_by,
                created_at=record.created_at,
            )
        )
    return record


async def workspace_keys(engine: AsyncEngine, workspace_id: str) -> list[KeyRecord]:
    """The workspace's keys, newest first."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(*_COLUMNS)
            .where(api_keys.c.workspace_id == workspace_id)
            .order_by(api_keys.c.created_at.desc(), api_keys.c.id.desc())
        )
        return [_record(row) for row in rows]


async def delete_key(engine: AsyncEngine, workspace_id: str, key_id: str) -> str | None:
    """Delete the workspace's key; returns its hash (to drop it from caches), None if unknown."""
    async with engine.begin() as connection:
        found = await connection.execute(
            select(api_keys.c.key_hash).where(
                api_keys.c.id == key_id, api_keys.c.workspace_id == workspace_id
            )
        )
        key_hash: str | None = found.scalar_one_or_none()
        if key_hash is not None:
            await connection.execute(delete(api_keys).where(api_keys.c.id == key_id))
    return key_hash


async def key_by_hash(engine: AsyncEngine, key_hash: str) -> KeyRecord | None:
    async with engine.connect() as connection:
        found = await connection.execute(select(*_COLUMNS).where(api_keys.c.key_hash == key_hash))
        row = found.first()
    return None if row is None else _record(row)


async def record_last_used(engine: AsyncEngine, used: Mapping[str, datetime]) -> None:
    """Write each key's last use in one statement; a later time already stored is kept."""
    if not used:
        return
    statement = (
        update(api_keys)
        .where(
            api_keys.c.id == bindparam("key_id"),
            or_(
                api_keys.c.last_used_at.is_(None),
                api_keys.c.last_used_at < bindparam("used_at"),
            ),
        )
        .values(last_used_at=bindparam("used_at"))
    )
    params = [{"key_id": key_id, "used_at": used_at} for key_id, used_at in used.items()]
    async with engine.begin() as connection:
        await connection.execute(statement, params)
