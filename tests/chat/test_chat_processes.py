"""Real `chatbot serve` processes: a kill loses nothing acknowledged; a stop says 1001."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import WSMsgType
from chat_helpers import Frame, create_chatbot, next_frame, register, visitor_path
from sqlalchemy import select

from chatbot.storage.engine import create_engine
from chatbot.storage.schema import messages

from conftest import TEST_SECRET_KEY
from support import ServerProcess, sqlite_writer_processes

pytestmark = pytest.mark.slow


def server_env(database_url: str) -> dict[str, str]:
    return {
        "CHATBOT_DATABASE_URL": database_url,
        "CHATBOT_REDIS_URL": "",
        "CHATBOT_SECRET_KEY": TEST_SECRET_KEY,
        "CHATBOT_ACCESS_LOG": "false",
        "CHATBOT_RATE_LIMITS__ENABLED": "false",
    }


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.stop()


@asynccontextmanager
async def running(
    servers: list[ServerProcess], env: dict[str, str], log: Path, port: int | None = None
) -> AsyncIterator[ServerProcess]:
    server = ServerProcess(env, port=port, cwd=log.parent)
    servers.append(server)
    server.start(log)
    await server.wait_ready()
    yield server


class Visitor:
    """A visitor that sends messages without waiting, and remembers what it was told."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.token = ""
        self.seqs: list[int] = []
        self.acked: set[str] = set()

    async def chat(self, http: aiohttp.ClientSession, url: str, count: int) -> None:
        try:
            async with http.ws_connect(url) as ws:
                welcome = await ws.receive()
                if welcome.type != WSMsgType.TEXT:
                    return  # the server was killed before it welcomed this visitor
                self.token = welcome.json()["visitor_token"]
                for index in range(count):
                    await ws.send_json(
                        {"type": "message", "text": f"{index}", "client_id": f"{self.name}-{index}"}
                    )
                async for received in ws:
                    if received.type != WSMsgType.TEXT:
                        break
                    frame: Frame = received.json()
                    if frame["type"] == "message":
                        self.seqs.append(frame["message"]["seq"])
                        if frame["message"]["role"] == "visitor":
                            self.acked.add(frame["message"]["client_id"])
        except (aiohttp.ClientError, ConnectionError):
            pass  # the server was killed under it


async def stored(database_url: str) -> dict[str, list[tuple[int, str | None]]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(messages.c.conversation_id, messages.c.seq, messages.c.client_id).order_by(
                    messages.c.conversation_id, messages.c.seq
                )
            )
            result: dict[str, list[tuple[int, str | None]]] = {}
            for row in rows:
                result.setdefault(row.conversation_id, []).append((row.seq, row.client_id))
            return result
    finally:
        await engine.dispose()


def running_process(pid: int) -> bool:
    """Whether `pid` runs (an exited process that nobody reaped yet does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def ended(pid: int, within: float) -> bool:
    async with asyncio.timeout(within):
        while running_process(pid):
            await asyncio.sleep(0.05)
    return True


async def test_after_a_kill_every_acknowledged_message_is_stored_and_resume_fills_the_gap(
    database_url: str, tmp_path: Path, servers: list[ServerProcess]
) -> None:
    env = server_env(database_url)
    async with running(servers, env, tmp_path / "first.log") as server:
        port, base = server.port, server.base_url
        async with aiohttp.ClientSession() as http:
            tenant = await register(http, base)
            chatbot = await create_chatbot(http, tenant, base, greeting="")
            url = base + visitor_path(chatbot["slug"])
            visitors = [Visitor(f"v{index}") for index in range(5)]
            chats = [asyncio.create_task(v.chat(http, url, 300)) for v in visitors]
            async with asyncio.timeout(30):
                while sum(len(v.acked) for v in visitors) < 100:
                    await asyncio.sleep(0.01)
            assert server.process is not None
            writers = sqlite_writer_processes(server.process.pid)
            server.signal(signal.SIGKILL)
            server.wait()
            await asyncio.wait_for(asyncio.gather(*chats), 15)
            # Its SQLite writer ends by itself once its transaction in progress has: no orphan.
            assert len(writers) == (1 if database_url.startswith("sqlite") else 0)
            for writer in writers:
                assert await ended(writer, within=10)

    in_database = await stored(database_url)
    by_client_id = {
        client_id for rows in in_database.values() for _, client_id in rows if client_id
    }
    for visitor in visitors:
        assert visitor.acked <= by_client_id, "an acknowledged message was lost"
        assert visitor.seqs == list(range(1, len(visitor.seqs) + 1))
    assert sum(len(v.acked) for v in visitors) < 5 * 300, "the kill came too late to test"

    async with (
        running(servers, env, tmp_path / "second.log", port=port),
        aiohttp.ClientSession() as http,
    ):
        for visitor in visitors:
            async with http.ws_connect(url + f"?visitor_token={visitor.token}") as ws:
                welcome = await next_frame(ws)
                after = visitor.seqs[-1] if visitor.seqs else 0
                await ws.send_json({"type": "resume", "after": after})
                replayed = []
                while (frame := await next_frame(ws))["type"] != "resumed":
                    replayed.append(frame["message"]["seq"])
            # A visitor the kill caught before any of its messages was stored has none.
            rows = in_database.get(welcome["conversation_id"], [])
            assert frame["last_seq"] == len(rows)
            assert replayed == [seq for seq, _ in rows if seq > after]
            assert visitor.seqs + replayed == list(range(1, len(rows) + 1))


async def test_stopping_a_server_closes_its_sockets_with_1001(
    postgres_url: str, tmp_path: Path, servers: list[ServerProcess]
) -> None:
    async with (
        running(servers, server_env(postgres_url), tmp_path / "server.log") as server,
        aiohttp.ClientSession() as http,
    ):
        tenant = await register(http, server.base_url)
        chatbot = await create_chatbot(http, tenant, server.base_url, greeting="")
        agent_url = server.base_url + "/ws/chat/agent/"
        async with (
            http.ws_connect(server.base_url + visitor_path(chatbot["slug"])) as visitor,
            http.ws_connect(agent_url, headers=tenant.headers) as agent,
        ):
            await next_frame(visitor)
            await next_frame(agent)
            server.signal(signal.SIGTERM)
            closes = [await visitor.receive(timeout=10), await agent.receive(timeout=10)]
        assert server.wait() == 0

    assert [message.type for message in closes] == [WSMsgType.CLOSE, WSMsgType.CLOSE]
    assert (visitor.close_code, agent.close_code) == (1001, 1001)
