"""Helpers for the team's Inbox tests: a workspace with members, operator sockets, frames."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientWebSocketResponse, WSMsgType
from visitor_support import AGENT_PATH, VISITOR_PATH
from workspace_support import Account, signup

Frame = dict[str, Any]


@dataclass
class Team:
    """A workspace with an owner, an admin and an agent, an outsider, and an echo chatbot."""

    owner: Account
    admin: Account
    agent: Account
    outsider: Account
    workspace_id: str
    chatbot: dict[str, Any]

    def by_role(self, role: str) -> Account:
        found: Account = getattr(self, role)
        return found


async def _json(response: Any, status: int) -> Any:
    body = await response.json()
    assert response.status == status, body
    return body


async def invite(api: Any, owner: Account, workspace_id: str, account: Account, role: str) -> None:
    """The account joins the workspace as the contract says: invited, then accepting."""
    invitation = await _json(
        await api.post(
            f"/api/workspaces/{workspace_id}/invitations/",
            json={"email": account.email, "role": role},
            headers=owner.headers,
        ),
        201,
    )
    accept = f"/api/invitations/{invitation['token']}/accept/"
    await _json(await api.post(accept, headers=account.headers), 200)


async def make_team(api: Any) -> Team:
    """Through the API only: `api` is a test client or a session of a server process."""
    owner, admin, agent, outsider = [
        await signup(api, name) for name in ("Olivia Owner", "Adam Admin", "Agnes Agent", "Otto")
    ]
    listed = await _json(await api.get("/api/workspaces/", headers=owner.headers), 200)
    [workspace_id] = [w["id"] for w in listed["items"] if w["role"] == "owner"]
    await invite(api, owner, workspace_id, admin, "admin")
    await invite(api, owner, workspace_id, agent, "agent")
    response = await api.post(
        "/api/chatbots/",
        json={"name": "Echo", "greeting": "", "brain": {"type": "echo"}},
        headers=owner.headers,
    )
    chatbot: dict[str, Any] = await response.json()
    assert response.status == 201, chatbot
    return Team(owner, admin, agent, outsider, workspace_id, chatbot)


async def receive(ws: ClientWebSocketResponse, timeout: float = 5.0) -> Frame:
    message = await ws.receive(timeout=timeout)
    assert message.type == WSMsgType.TEXT, f"expected a text frame, got {message}"
    frame: Frame = json.loads(message.data)
    return frame


async def frame_where(
    ws: ClientWebSocketResponse, wanted: Callable[[Frame], bool], timeout: float = 5.0
) -> Frame:
    """The first frame that matches within `timeout` seconds, skipping others."""
    async with asyncio.timeout(timeout):
        while True:
            frame = await receive(ws, timeout)
            if wanted(frame):
                return frame


async def frames_within(ws: ClientWebSocketResponse, seconds: float) -> list[Frame]:
    """Every frame that arrives within `seconds`."""
    frames: list[Frame] = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                frames.append(await receive(ws, seconds + 1))
    except TimeoutError:
        pass
    return frames


def conversation_event(conversation_id: str, **fields: Any) -> Callable[[Frame], bool]:
    """Matches the `conversation` event of that conversation with these fields."""

    def wanted(frame: Frame) -> bool:
        if frame["type"] != "conversation" or frame["conversation"]["id"] != conversation_id:
            return False
        return all(frame["conversation"].get(key) == value for key, value in fields.items())

    return wanted


def presence_of(user_id: str, online: bool) -> Callable[[Frame], bool]:
    return lambda frame: frame == {"type": "presence", "user_id": user_id, "online": online}


def assignee(account: Account) -> dict[str, str]:
    return {"id": account.user["id"], "name": account.user["name"]}


@asynccontextmanager
async def operator(client: Any, account: Account) -> AsyncIterator[ClientWebSocketResponse]:
    """An authenticated operator socket (its auth_ok already read)."""
    async with client.ws_connect(AGENT_PATH, headers=account.headers) as ws:
        assert (await receive(ws))["type"] == "auth_ok"
        yield ws


@asynccontextmanager
async def visitor(client: Any, slug: str) -> AsyncIterator[tuple[ClientWebSocketResponse, str]]:
    """A visitor socket and its conversation id (its welcome read)."""
    async with client.ws_connect(VISITOR_PATH.format(slug=slug)) as ws:
        welcome = await frame_where(ws, lambda frame: frame["type"] == "welcome")
        yield ws, welcome["conversation_id"]


async def visitor_writes(ws: ClientWebSocketResponse, text: str) -> None:
    """The visitor sends `text` and waits for it to be stored."""
    client_id = f"v-{text}"
    await ws.send_json({"type": "message", "text": text, "client_id": client_id})
    await frame_where(
        ws, lambda frame: frame["type"] == "message" and frame["message"]["client_id"] == client_id
    )
