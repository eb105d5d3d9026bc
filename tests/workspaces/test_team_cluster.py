"""The team's Inbox on two instances sharing PostgreSQL and Redis: assignment, presence and a
removal reach the other instance; an instance that is killed leaves its members offline."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from team_support import (
    Team,
    assignee,
    conversation_event,
    frame_where,
    frames_within,
    make_team,
    operator,
    presence_of,
    visitor,
    visitor_writes,
)

from conftest import TEST_SECRET_KEY, AppClient, ClientFactory
from support import ServerProcess

PRESENCE_TTL = 2.0


@pytest.fixture
async def pair(
    make_client: ClientFactory, postgres_url: str, redis_url: str
) -> tuple[AppClient, AppClient]:
    settings = {
        "database_url": postgres_url,
        "redis_url": redis_url,
        "brains": {"semantic": False},
        "chat": {"presence_ttl_seconds": PRESENCE_TTL},
    }
    return await make_client(**settings), await make_client(**settings)


async def test_assignment_made_on_one_instance_reaches_operators_on_the_other(
    pair: tuple[AppClient, AppClient],
) -> None:
    one, two = pair
    team = await make_team(one)
    async with (
        operator(two, team.owner) as owner,
        operator(one, team.agent) as agent,
        visitor(one, team.chatbot["slug"]) as (guest, conversation_id),
    ):
        await visitor_writes(guest, "hello")
        await frame_where(owner, conversation_event(conversation_id))

        await agent.send_json({"type": "takeover", "conversation_id": conversation_id})
        await frame_where(owner, conversation_event(conversation_id, assignee=assignee(team.agent)))

        await owner.send_json(
            {"type": "assign", "conversation_id": conversation_id, "user_id": team.admin.user["id"]}
        )
        await frame_where(agent, conversation_event(conversation_id, assignee=assignee(team.admin)))

        patched = await two.patch(
            f"/api/conversations/{conversation_id}/",
            json={"assignee_id": None},
            headers=team.admin.headers,
        )
        assert patched.status == 200
        await frame_where(agent, conversation_event(conversation_id, assignee=None))

        await owner.send_json({"type": "close", "conversation_id": conversation_id})
        await frame_where(agent, conversation_event(conversation_id, status="closed"))


async def test_presence_crosses_instances(pair: tuple[AppClient, AppClient]) -> None:
    one, two = pair
    team = await make_team(one)
    agent_id = team.agent.user["id"]
    async with operator(one, team.owner) as owner:
        async with operator(two, team.agent):
            await frame_where(owner, presence_of(agent_id, True))
            async with operator(one, team.agent):
                pass  # its other socket, on the other instance: still online
            assert [f for f in await frames_within(owner, 0.5) if f["type"] == "presence"] == []
            listed = await one.get(
                f"/api/workspaces/{team.workspace_id}/presence/", headers=team.owner.headers
            )
            online = {i["user_id"]: i["online"] for i in (await listed.json())["items"]}
            assert online[agent_id] is True
        await frame_where(owner, presence_of(agent_id, False))


async def test_a_removal_cuts_an_operator_socket_on_the_other_instance_within_a_second(
    pair: tuple[AppClient, AppClient],
) -> None:
    one, two = pair
    team = await make_team(one)
    async with (
        operator(two, team.agent) as agent,
        visitor(one, team.chatbot["slug"]) as (guest, conversation_id),
    ):
        await visitor_writes(guest, "before")
        await frame_where(agent, lambda f: f["type"] == "message" and f["message"]["role"] == "bot")

        removed = await one.delete(
            f"/api/workspaces/{team.workspace_id}/members/{team.agent.user['id']}/",
            headers=team.owner.headers,
        )
        assert removed.status == 204
        cut_at = time.monotonic() + 1.0
        await _refused_before(agent, conversation_id, cut_at)

        await visitor_writes(guest, "after")
        heard = await frames_within(agent, 0.5)
        assert not [f for f in heard if f["type"] in ("message", "conversation")], heard


async def _refused_before(
    ws: aiohttp.ClientWebSocketResponse, conversation_id: str, by: float
) -> None:
    """The socket's takeover is refused as not found before `by` (monotonic time)."""
    while True:
        await ws.send_json({"type": "takeover", "conversation_id": conversation_id})
        answer = await frame_where(ws, lambda f: f["type"] in ("error", "conversation"))
        if answer["type"] == "error" and answer["code"] == "not_found":
            assert time.monotonic() <= by, "the removal took more than a second to act"
            return
        assert time.monotonic() <= by, f"still acting a second after the removal: {answer}"
        await asyncio.sleep(0.05)


# Real processes: a killed instance cannot say goodbye; its members expire from Redis.


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.stop()


@pytest.mark.slow
async def test_members_of_a_killed_instance_go_offline_after_the_ttl(
    servers: list[ServerProcess],
    postgres_url: str,
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    env = {
        "CHATBOT_DATABASE_URL": postgres_url,
        "CHATBOT_REDIS_URL": redis_url,
        "CHATBOT_REDIS_PREFIX": redis_prefix,
        "CHATBOT_SECRET_KEY": TEST_SECRET_KEY,
        "CHATBOT_ACCESS_LOG": "false",
        "CHATBOT_RATE_LIMITS__ENABLED": "false",
        "CHATBOT_BRAINS__SEMANTIC": "false",
        "CHATBOT_CHAT__PRESENCE_TTL_SECONDS": str(PRESENCE_TTL),
    }
    for index in range(2):
        server = ServerProcess(env, cwd=tmp_path)
        servers.append(server)
        server.start(tmp_path / f"server{index}.log")
    for server in servers:
        await server.wait_ready()
    survivor, doomed = servers

    async with (
        aiohttp.ClientSession(survivor.base_url) as one,
        aiohttp.ClientSession(doomed.base_url) as two,
    ):
        team = await make_team(one)  # type: ignore[arg-type]
        agent_id = team.agent.user["id"]
        async with operator(one, team.owner) as owner:
            async with operator(two, team.agent):
                await frame_where(owner, presence_of(agent_id, True))
                doomed.signal(signal.SIGKILL)
                doomed.wait()
                # Offline within the TTL and one heartbeat (a third of it), with some slack.
                await frame_where(owner, presence_of(agent_id, False), timeout=PRESENCE_TTL * 2 + 2)
            listed = await one.get(
                f"/api/workspaces/{team.workspace_id}/presence/", headers=team.owner.headers
            )
            online = {i["user_id"]: i["online"] for i in (await listed.json())["items"]}
            assert online == {user: user == team.owner.user["id"] for user in online}


async def test_a_team_on_one_instance_survives_the_reconnect_of_an_operator(
    pair: tuple[AppClient, AppClient],
) -> None:
    one, _ = pair
    team: Team = await make_team(one)
    agent_id = team.agent.user["id"]
    async with operator(one, team.owner) as owner:
        for _round in range(2):
            async with operator(one, team.agent):
                await frame_where(owner, presence_of(agent_id, True))
            await frame_where(owner, presence_of(agent_id, False))
