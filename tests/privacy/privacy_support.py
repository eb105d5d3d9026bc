"""Visitors made over the real sockets, and the rows they leave, for the visitor data tests."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import api_support
from aiohttp import ClientWebSocketResponse, WSMsgType
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.storage.schema import conversations, erased_conversations, messages

Frame = dict[str, Any]


@dataclass(frozen=True)
class Owner:
    """A registered account with an echo chatbot."""

    headers: dict[str, str]
    chatbot: dict[str, Any]

    @property
    def slug(self) -> str:
        return str(self.chatbot["slug"])

    def visitor_url(self, visitor_id: str) -> str:
        return f"/api/chatbots/{self.chatbot['id']}/visitors/{visitor_id}/"


async def owner_with_chatbot(http: Any, base_url: str = "", **fields: Any) -> Owner:
    account = await api_support.register(http, base_url=base_url)
    headers = api_support.bearer(account["access"])
    body = {"name": "Support", "brain": {"type": "echo"}, "greeting": "Hello!", **fields}
    chatbot = await api_support.create_chatbot(http, headers, base_url=base_url, **body)
    return Owner(headers, chatbot)


async def next_frame(ws: ClientWebSocketResponse, timeout: float = 10.0) -> Frame:
    message = await ws.receive(timeout=timeout)
    assert message.type == WSMsgType.TEXT, f"expected a text frame, got {message}"
    frame: Frame = json.loads(message.data)
    return frame


async def frame_where(ws: ClientWebSocketResponse, wanted: Callable[[Frame], bool]) -> Frame:
    while True:
        frame = await next_frame(ws)
        if wanted(frame):
            return frame


async def frame_of_type(ws: ClientWebSocketResponse, kind: str) -> Frame:
    return await frame_where(ws, lambda frame: frame["type"] == kind)


async def message_frame(ws: ClientWebSocketResponse, role: str, **fields: Any) -> Frame:
    def wanted(frame: Frame) -> bool:
        if frame["type"] != "message" or frame["message"]["role"] != role:
            return False
        return all(frame["message"][key] == value for key, value in fields.items())

    return await frame_where(ws, wanted)


async def send_message(ws: ClientWebSocketResponse, text: str, client_id: str) -> str:
    await ws.send_json({"type": "message", "text": text, "client_id": client_id})
    return client_id


@dataclass(frozen=True)
class Visitor:
    """What a visitor's welcome told them."""

    conversation_id: str
    visitor_id: str
    visitor_token: str


def visitor_of(welcome: Frame) -> Visitor:
    return Visitor(welcome["conversation_id"], welcome["visitor_id"], welcome["visitor_token"])


async def chat(ws: ClientWebSocketResponse, *texts: str) -> Visitor:
    """Read the welcome, then say `texts`."""
    visitor = visitor_of(await frame_of_type(ws, "welcome"))
    await say(ws, *texts)
    return visitor


async def say(ws: ClientWebSocketResponse, *texts: str) -> None:
    """Send each text and wait for its acknowledgement and the echo bot's answer."""
    for text in texts:
        client_id = await send_message(ws, text, f"c-{uuid.uuid4().hex}")
        await message_frame(ws, "visitor", client_id=client_id)
        await message_frame(ws, "bot", text=text)


async def visitor_chats(client: Any, slug: str, *texts: str) -> Visitor:
    """A visitor who says `texts` on a socket of their own, then leaves."""
    async with client.ws_connect(f"/ws/chat/public/{slug}/") as ws:
        return await chat(ws, *texts)


async def closed_with(ws: ClientWebSocketResponse, timeout: float = 5.0) -> int:
    """The close code the server sent, skipping frames still on their way."""
    while True:
        message = await ws.receive(timeout=timeout)
        if message.type is WSMsgType.CLOSE:
            code: int = message.data
            return code
        assert message.type == WSMsgType.TEXT, message


async def rows_of(engine: AsyncEngine, conversation_id: str) -> tuple[int, int, bool]:
    """(conversations, messages, erased) stored for this conversation id."""
    async with engine.connect() as connection:
        stored = await connection.scalar(
            select(func.count()).where(conversations.c.id == conversation_id)
        )
        written = await connection.scalar(
            select(func.count()).where(messages.c.conversation_id == conversation_id)
        )
        erased = await connection.scalar(
            select(func.count()).where(erased_conversations.c.id == conversation_id)
        )
    return int(stored or 0), int(written or 0), bool(erased)


async def welcome_with_token(client: Any, slug: str, token: str) -> Frame:
    async with client.ws_connect(f"/ws/chat/public/{slug}/?visitor_token={token}") as ws:
        return await next_frame(ws)
