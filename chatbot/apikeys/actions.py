"""Creating and deleting keys: one function each, for the REST routes and the dashboard."""

from __future__ import annotations

from aiohttp import web

from chatbot import keys
from chatbot.apikeys import repository
from chatbot.apikeys.authenticator import API_KEYS
from chatbot.apikeys.key_material import key_digest, key_hint, new_key
from chatbot.apikeys.repository import KeyRecord


async def create_key(
    app: web.Application, workspace_id: str, name: str, created_by: str | None
) -> tuple[KeyRecord, str]:
    """A new key for the workspace: its record, and the key itself (never stored)."""
    key = new_key()
    record = await repository.insert_key(
        app[keys.ENGINE],
        workspace_id=workspace_id,
        name=name,
        key_hash=key_digest(key),
        hint=key_hint(key),
        created_by=created_by,
    )
    return record, key


async def delete_key(app: web.Application, workspace_id: str, key_id: str) -> bool:
    """Delete the workspace's key; it stops working at once on every instance."""
    key_hash = await repository.delete_key(app[keys.ENGINE], workspace_id, key_id)
    if key_hash is None:
        return False
    await app[API_KEYS].key_deleted(key_hash)
    return True
