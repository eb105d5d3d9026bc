"""Helpers for the conversation tests: an owner with a chatbot, and conversations written
straight to the tables the way the chat feature writes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from api_support import bearer, create_chatbot, error_of, register
from db_support import insert_conversation

from chatbot import keys

from conftest import AppClient

__all__ = ["T0", "Owner", "add_conversation", "error_of", "owner_with_chatbot"]

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Owner:
    headers: dict[str, str]
    chatbot_id: str


async def owner_with_chatbot(client: AppClient) -> Owner:
    headers = bearer((await register(client))["access"])
    chatbot = await create_chatbot(client, headers, name="Help")
    return Owner(headers=headers, chatbot_id=chatbot["id"])


async def add_conversation(
    client: AppClient,
    chatbot_id: str,
    turns: list[tuple[str, str]],
    *,
    minute: int = 0,
    status: str = "bot",
) -> str:
    """A conversation whose messages (role, text) were sent a second apart from T0 + minute."""
    started = T0 + timedelta(minutes=minute)
    timed = [
        (role, text, started + timedelta(seconds=seq)) for seq, (role, text) in enumerate(turns, 1)
    ]
    engine = client.app[keys.ENGINE]
    return await insert_conversation(engine, chatbot_id, timed, status=status, started_at=started)
