"""The operator socket follows workspaces: a member gets the events of every workspace they
belong to and may work its conversations; a non-member gets nothing and finds nothing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse
from visitor_support import AGENT_PATH, operator_acts, visitor_says
from workspace_support import Account, join, own_workspace, signup

from chatbot.workspaces.roles import Role

from conftest import AppClient, ClientFactory

pytestmark = pytest.mark.both_stacks


@pytest.fixture
async def api(make_client: ClientFactory) -> AppClient:
    return await make_client(brains={"semantic": False})


async def _echo_bot(api: AppClient, owner: Account) -> dict[str, Any]:
    response = await api.post(
        "/api/chatbots/",
        json={"name": "Echo", "greeting": "", "brain": {"type": "echo"}},
        headers=owner.headers,
    )
    bot: dict[str, Any] = await response.json()
    assert response.status == 201, bot
    return bot


async def _visitor_texts(ws: ClientWebSocketResponse, seconds: float = 1.0) -> set[str]:
    """The visitor message texts the operator socket receives within `seconds`."""
    texts: set[str] = set()
    try:
        async with asyncio.timeout(seconds):
            while True:
                frame = json.loads(await ws.receive_str())
                if frame["type"] == "message" and frame["message"]["role"] == "visitor":
                    texts.add(frame["message"]["text"])
    except TimeoutError:
        pass
    return texts


async def test_a_member_of_two_workspaces_gets_the_events_of_both_and_no_other(
    api: AppClient,
) -> None:
    alice, bob, carol = [await signup(api, name) for name in ("Alice", "Bob", "Carol")]
    alice_bot, bob_bot, carol_bot = [await _echo_bot(api, a) for a in (alice, bob, carol)]
    await join(api, await own_workspace(api, alice), bob, Role.AGENT)

    async with api.ws_connect(AGENT_PATH, headers=bob.headers) as ws:
        assert json.loads(await ws.receive_str(timeout=5))["type"] == "auth_ok"
        await visitor_says(api, alice_bot["slug"], ["to alice"])
        await visitor_says(api, bob_bot["slug"], ["to bob"])
        await visitor_says(api, carol_bot["slug"], ["to carol"])

        assert await _visitor_texts(ws) == {"to alice", "to bob"}


async def test_an_agent_works_the_workspaces_inbox_and_a_stranger_finds_nothing(
    api: AppClient,
) -> None:
    alice, agent, stranger = [await signup(api, name) for name in ("Alice", "Agent", "Stranger")]
    bot = await _echo_bot(api, alice)
    await join(api, bot["workspace_id"], agent, Role.AGENT)
    conversation_id = await visitor_says(api, bot["slug"], ["help"], handoff=True)

    await operator_acts(api, agent.headers, conversation_id, status="human", texts=("on it",))

    history = await api.get(
        f"/api/conversations/{conversation_id}/messages/", headers=alice.headers
    )
    texts = [(m["role"], m["text"]) for m in (await history.json())["items"]]
    assert texts[-1] == ("operator", "on it")
    async with api.ws_connect(AGENT_PATH, headers=stranger.headers) as ws:
        assert json.loads(await ws.receive_str(timeout=5))["type"] == "auth_ok"
        await ws.send_json({"type": "takeover", "conversation_id": conversation_id})
        refused = json.loads(await ws.receive_str(timeout=5))
    assert refused["type"] == "error"
    assert refused["code"] == "not_found"
