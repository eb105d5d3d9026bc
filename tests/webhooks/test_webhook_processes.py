"""Real `chatbot serve` processes: a kill -9 loses no event, and two instances on PostgreSQL
deliver each event once."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from api_support import create_chatbot
from webhook_support import Receiver, account, add_webhook, until_deliveries, verify

from conftest import TEST_SECRET_KEY
from support import ServerProcess

pytestmark = pytest.mark.slow


def server_env(database_url: str, redis_url: str = "") -> dict[str, str]:
    return {
        "CHATBOT_DATABASE_URL": database_url,
        "CHATBOT_REDIS_URL": redis_url,
        "CHATBOT_SECRET_KEY": TEST_SECRET_KEY,
        "CHATBOT_ACCESS_LOG": "false",
        "CHATBOT_RATE_LIMITS__ENABLED": "false",
        "CHATBOT_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true",
        "CHATBOT_WEBHOOKS__POLL_SECONDS": "0.2",
        "CHATBOT_WEBHOOKS__TIMEOUT_SECONDS": "1",
        "CHATBOT_WEBHOOKS__RETRY_DELAYS_SECONDS": "0.5, 0.5, 0.5, 0.5",
    }


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    site = Receiver()
    await site.start()
    yield site
    site.held.set()
    await site.close()


async def start(
    servers: list[ServerProcess], env: dict[str, str], log: Path, port: int | None = None
) -> ServerProcess:
    server = ServerProcess(env, port=port, cwd=log.parent)
    servers.append(server)
    server.start(log)
    await server.wait_ready()
    return server


async def chat(
    http: aiohttp.ClientSession, base_url: str, slug: str, count: int, name: str
) -> list[str]:
    """A visitor sends `count` messages, each acknowledged; returns the stored messages' ids."""
    url = base_url.replace("http", "ws", 1) + f"/ws/chat/public/{slug}/"
    stored: list[str] = []
    async with http.ws_connect(url) as ws:
        for index in range(count):
            client_id = f"{name}-{index}"
            await ws.send_json({"type": "message", "text": f"{index}", "client_id": client_id})
            while True:
                frame: dict[str, Any] = json.loads(await ws.receive_str(timeout=15))
                message = frame.get("message") or {}
                if frame["type"] == "message" and message.get("client_id") == client_id:
                    stored.append(message["id"])
                    break
    return stored


async def test_a_kill_between_commit_and_delivery_loses_no_event(
    database_url: str, tmp_path: Path, servers: list[ServerProcess], receiver: Receiver
) -> None:
    receiver.held.clear()  # attempts wait: the server dies with them in flight
    env = server_env(database_url)
    server = await start(servers, env, tmp_path / "first.log")
    base = server.base_url
    async with aiohttp.ClientSession() as http:
        headers, workspace_id = await account(http, base_url=base)
        chatbot = await create_chatbot(
            http, headers, base_url=base, name="Kill", brain={"type": "echo"}
        )
        webhook = await add_webhook(
            http, headers, workspace_id, receiver.url, ["message.created"], base_url=base
        )
        acknowledged = await chat(http, base, chatbot["slug"], 10, "v")
        await receiver.wait_for(1)
        server.stop()  # SIGKILL to the server and its writer process
        receiver.held.set()  # from now on the receiver answers 200
        server = await start(servers, env, tmp_path / "second.log", port=server.port)
        # greeting, 10 visitor messages, and the echo answers stored before the kill
        items = await until_deliveries(
            http,
            headers,
            workspace_id,
            webhook["id"],
            lambda items: len(items) >= 11 and all(i["status"] == "delivered" for i in items),
            timeout=30,
            base_url=base,
        )
    received_ids = {r.webhook_id for r in receiver.received}
    assert received_ids == {item["event_id"] for item in items}
    delivered_messages = {
        verify(webhook["secret"], r.headers, r.body)["data"]["id"] for r in receiver.received
    }
    assert set(acknowledged) <= delivered_messages


async def test_two_instances_on_postgres_deliver_each_of_500_events_once(
    postgres_url: str,
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
    servers: list[ServerProcess],
    receiver: Receiver,
) -> None:
    env = {**server_env(postgres_url, redis_url), "CHATBOT_REDIS_PREFIX": redis_prefix}
    first = await start(servers, env, tmp_path / "a.log")
    second = await start(servers, env, tmp_path / "b.log")
    async with aiohttp.ClientSession() as http:
        headers, workspace_id = await account(http, base_url=first.base_url)
        chatbot = await create_chatbot(
            http,
            headers,
            base_url=first.base_url,
            name="Twice",
            greeting="",
            brain={"type": "echo"},
        )
        webhook = await add_webhook(
            http,
            headers,
            workspace_id,
            receiver.url,
            ["message.created"],
            base_url=second.base_url,
        )
        # 5 visitors, on one instance or the other, 50 messages each, each answered by the
        # bot: 500 messages, written by both instances.
        await asyncio.gather(
            *(
                chat(http, (first, second)[index % 2].base_url, chatbot["slug"], 50, f"v{index}")
                for index in range(5)
            )
        )
        await receiver.wait_for(500, timeout=60)
        items = await until_deliveries(
            http,
            headers,
            workspace_id,
            webhook["id"],
            lambda items: len(items) == 200 and all(i["status"] == "delivered" for i in items),
            base_url=first.base_url,
        )
        await asyncio.sleep(1.0)  # time for a second delivery of anything, were there one
    counts = Counter(r.webhook_id for r in receiver.received)
    assert len(counts) == 500
    assert set(counts.values()) == {1}
    assert all(item["attempts"] == 1 for item in items)
    for received in receiver.received[:20]:
        verify(webhook["secret"], received.headers, received.body)
