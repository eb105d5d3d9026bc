"""Helpers for the chat tests: real databases with a user and a chatbot, and WebSocket readers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import api_support
from aiohttp import ClientWebSocketResponse, WSMsgType
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.chat.conversations import store_conversation, token_hash
from chatbot.chat.writes import NewConversation
from chatbot.storage.engine import create_engine
from chatbot.storage.migrations import migrate
from chatbot.storage.schema import chatbots, users
from chatbot.storage.values import new_id, utcnow
from chatbot.workspaces.repository import insert_workspace

Frame = dict[str, Any]


@asynccontextmanager
async def migrated_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        yield engine
    finally:
        await engine.dispose()


async def insert_chatbot(engine: AsyncEngine, *, greeting: str = "") -> tuple[str, str]:
    """A user, their workspace and a chatbot in it, written straight to the tables; returns
    (owner, chatbot)."""
    now = utcnow()
    owner_id, chatbot_id = new_id(), new_id()
    async with engine.begin() as connection:
        await connection.execute(
            insert(users).values(
                id=owner_id,
                email=f"{owner_id}@example.com",
                name="Owner",
                password_hash="x",
                created_at=now,
                updated_at=now,
            )
        )
        workspace = await insert_workspace(connection, name="Workspace", owner_id=owner_id)
        await connection.execute(
            insert(chatbots).values(
                id=chatbot_id,
                workspace_id=workspace.workspace_id,
                owner_id=owner_id,
                slug=f"bot-{chatbot_id[:8]}",
                name="Bot",
                greeting=greeting,
                allowed_origins=[],
                brain={"type": "echo"},
                theme={},
                created_at=now,
                updated_at=now,
            )
        )
    return owner_id, chatbot_id


async def new_conversation(
    engine: AsyncEngine, chatbot_id: str, conversation_id: str | None = None
) -> str:
    """A stored conversation without messages, as a visitor's request for a person stores it
    (with `conversation_id`: the one a visitor's welcome named)."""
    conversation_id = conversation_id or new_id()
    new = NewConversation(conversation_id, chatbot_id, token_hash(new_id()), utcnow(), "", {})
    assert await store_conversation(engine, new)
    return conversation_id


async def next_frame(ws: ClientWebSocketResponse, timeout: float = 5.0) -> Frame:
    """The next JSON frame; fails on a close or a timeout."""
    message = await ws.receive(timeout=timeout)
    assert message.type == WSMsgType.TEXT, f"expected a text frame, got {message}"
    frame: Frame = json.loads(message.data)
    return frame


async def frame_where(
    ws: ClientWebSocketResponse, match: Callable[[Frame], bool], timeout: float = 5.0
) -> Frame:
    """The first frame that matches, skipping others, within `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            frame = await next_frame(ws, timeout)
            if match(frame):
                return frame


async def frame_of_type(ws: ClientWebSocketResponse, kind: str, timeout: float = 5.0) -> Frame:
    return await frame_where(ws, lambda frame: frame.get("type") == kind, timeout)


async def no_frame_within(ws: ClientWebSocketResponse, seconds: float) -> None:
    """Assert nothing arrives for `seconds`."""
    try:
        message = await ws.receive(timeout=seconds)
    except TimeoutError:
        return
    raise AssertionError(f"expected silence, got {message}")


class Tenant:
    """A registered account (through the API) and what it needs to drive the chat."""

    def __init__(self, user: dict[str, Any], access: str) -> None:
        self.user = user
        self.access = access

    @property
    def id(self) -> str:
        return str(self.user["id"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


async def register(http: Any, base_url: str = "") -> Tenant:
    """`POST /auth/register/` with a fresh email; `http` is a TestClient or a ClientSession."""
    body = await api_support.register(http, base_url=base_url, email=f"{new_id()}@example.com")
    return Tenant(body["user"], body["access"])


async def create_chatbot(
    http: Any, tenant: Tenant, base_url: str = "", **fields: Any
) -> dict[str, Any]:
    """`POST /api/chatbots/`; the echo brain unless told otherwise."""
    body = {"name": "Support", "brain": {"type": "echo"}, **fields}
    return await api_support.create_chatbot(http, tenant.headers, base_url=base_url, **body)


def visitor_path(slug: str, visitor_token: str | None = None) -> str:
    path = f"/ws/chat/public/{slug}/"
    return path if visitor_token is None else f"{path}?visitor_token={visitor_token}"


async def send_message(ws: ClientWebSocketResponse, text: str, client_id: str | None = None) -> str:
    client_id = client_id or new_id()
    await ws.send_json({"type": "message", "text": text, "client_id": client_id})
    return client_id


async def message_frame(
    ws: ClientWebSocketResponse, role: str, timeout: float = 5.0, **match: Any
) -> Frame:
    """The next `message` frame of this role (and these message fields), skipping the rest."""

    def matches(frame: Frame) -> bool:
        if frame.get("type") != "message" or frame["message"]["role"] != role:
            return False
        return all(frame["message"].get(key) == value for key, value in match.items())

    return await frame_where(ws, matches, timeout)
