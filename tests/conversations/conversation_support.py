"""Helpers for the conversation tests: an owner with a chatbot, and conversations written
straight to the tables the way the chat feature writes them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from chatbot import keys
from chatbot.storage.schema import conversations, messages
from chatbot.storage.values import new_id

from conftest import AppClient

PASSWORD = "correct horse battery staple"
T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Owner:
    headers: dict[str, str]
    chatbot_id: str


async def owner_with_chatbot(client: AppClient) -> Owner:
    email = f"user-{uuid.uuid4().hex[:10]}@example.com"
    response = await client.post("/auth/register/", json={"email": email, "password": PASSWORD})
    session = await response.json()
    assert response.status == 201, session
    headers = {"Authorization": f"Bearer {session['access']}"}
    response = await client.post("/api/chatbots/", json={"name": "Help"}, headers=headers)
    chatbot = await response.json()
    assert response.status == 201, chatbot
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
    conversation_id = new_id()
    started = T0 + timedelta(minutes=minute)
    last = started + timedelta(seconds=len(turns)) if turns else None
    async with client.app[keys.ENGINE].begin() as connection:
        await connection.execute(
            insert(conversations).values(
                id=conversation_id,
                chatbot_id=chatbot_id,
                visitor_token_hash=uuid.uuid4().hex,
                status=status,
                last_seq=len(turns),
                visitor_data={},
                started_at=started,
                last_message_at=last,
                handed_off=status != "bot",
            )
        )
        for seq, (role, text) in enumerate(turns, start=1):
            await connection.execute(
                insert(messages).values(
                    id=new_id(),
                    conversation_id=conversation_id,
                    seq=seq,
                    role=role,
                    text=text,
                    client_id=f"c{seq}" if role == "visitor" else None,
                    created_at=started + timedelta(seconds=seq),
                )
            )
    return conversation_id


async def error_of(response: Any, status: int) -> dict[str, Any]:
    body = await response.json()
    assert response.status == status, body
    error: dict[str, Any] = body["error"]
    assert error["code"]
    assert error["message"]
    return error
