"""`chatbot serve --workers N`: several processes on one port, on PostgreSQL and Redis only."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import aiohttp
import pytest
from production_support import (
    WorkerTracer,
    create_chatbot,
    frame_where,
    fresh_connections_session,
    is_message,
    next_frame,
    register,
    running,
    server_env,
)

from support import ServerProcess, free_port, run_cli

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("database", "redis", "named"),
    [
        ("sqlite", "redis", ["CHATBOT_DATABASE_URL is sqlite:///"]),
        ("postgres", "", ["CHATBOT_REDIS_URL is empty"]),
        ("sqlite", "", ["CHATBOT_DATABASE_URL", "CHATBOT_REDIS_URL is empty"]),
    ],
)
def test_workers_are_refused_in_one_line_without_postgres_and_redis(
    tmp_path: Path, redis_url: str, database: str, redis: str, named: list[str]
) -> None:
    env = server_env(
        tmp_path,
        CHATBOT_REDIS_URL=redis_url if redis else "",
        **(
            {"CHATBOT_DATABASE_URL": "postgresql://app:hunter2@127.0.0.1:5432/db"}
            if database == "postgres"
            else {}
        ),
    )
    result = run_cli("serve", "--port", str(free_port()), "--workers", "2", env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("chatbot: --workers 2 needs PostgreSQL and Redis")
    for part in named:
        assert part in lines[0]
    assert "hunter2" not in result.stderr


def test_workers_setting_from_the_environment_is_refused_the_same_way(tmp_path: Path) -> None:
    result = run_cli("serve", env=server_env(tmp_path, CHATBOT_WORKERS="3"))
    assert result.returncode == 1
    assert "--workers 3 needs PostgreSQL and Redis" in result.stderr


@pytest.mark.parametrize("count", ["0", "-1", "two", "65"])
def test_a_worker_count_that_is_not_1_to_64_is_a_usage_error(tmp_path: Path, count: str) -> None:
    result = run_cli("serve", "--workers", count, env=server_env(tmp_path))
    assert result.returncode == 2
    assert "number of workers from 1 to 64" in result.stderr
    assert "Traceback" not in result.stderr


async def test_workers_that_cannot_reach_the_database_exit_non_zero_with_one_line(
    tmp_path: Path, redis_url: str
) -> None:
    env = server_env(
        tmp_path,
        CHATBOT_DATABASE_URL="postgresql://app:hunter2@127.0.0.1:1/chat",
        CHATBOT_REDIS_URL=redis_url,
    )
    result = await asyncio.to_thread(
        run_cli, "serve", "--port", str(free_port()), "--workers", "2", env=env
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("chatbot:")]
    assert len(lines) == 1, result.stderr
    assert "postgresql://app:***@127.0.0.1:1/chat" in lines[0]
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr


async def _workers_seen(base_url: str, wanted: int, attempts: int = 200) -> set[str]:
    """Worker ids answering /healthz over fresh connections, until `wanted` distinct ones."""
    tracer = WorkerTracer()
    async with fresh_connections_session(tracer) as session:
        for _ in range(attempts):
            async with session.get(f"{base_url}/healthz") as response:
                assert response.status == 200
            if len(set(tracer.seen)) >= wanted:
                break
    return set(tracer.seen)


@pytest.fixture
def cluster_env(tmp_path: Path, postgres_url: str, redis_url: str) -> dict[str, str]:
    """Workers' settings: a fresh PostgreSQL database for this test, and Redis."""
    return server_env(tmp_path, CHATBOT_DATABASE_URL=postgres_url, CHATBOT_REDIS_URL=redis_url)


async def test_two_workers_share_one_port_and_stop_cleanly_on_sigterm(
    tmp_path: Path, cluster_env: dict[str, str]
) -> None:
    async with running(tmp_path, cluster_env, "--workers", "2") as server:
        workers = await _workers_seen(server.base_url, 2)
        assert len(workers) == 2, workers
        assert all(worker.isdigit() for worker in workers)
        server.signal(signal.SIGTERM)
        assert await asyncio.to_thread(server.wait, 40) == 0, server.output()
        output = server.output()
        for worker in workers:
            assert f"worker {worker} chatbot [-] stopped" in output, output


async def test_a_worker_that_dies_is_replaced(tmp_path: Path, cluster_env: dict[str, str]) -> None:
    async with running(tmp_path, cluster_env, "--workers", "2") as server:
        before = await _workers_seen(server.base_url, 2)
        victim = int(sorted(before)[0])
        os.kill(victim, signal.SIGKILL)
        async with asyncio.timeout(40):
            while True:
                now = await _workers_seen(server.base_url, 2, attempts=40)
                if len(now) == 2 and str(victim) not in now:
                    break
                await asyncio.sleep(0.2)
        assert "starting a replacement" in server.output()


async def test_workers_stop_by_themselves_when_their_supervisor_is_killed(
    tmp_path: Path, cluster_env: dict[str, str]
) -> None:
    async with running(tmp_path, cluster_env, "--workers", "2") as server:
        workers = [int(pid) for pid in await _workers_seen(server.base_url, 2)]
        server.signal(signal.SIGKILL)  # the supervisor alone: no chance to stop them
        server.wait(timeout=10)
        async with asyncio.timeout(15):
            while any(_alive(pid) for pid in workers):
                await asyncio.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_visitor_and_an_operator_on_different_workers_talk_to_each_other(
    tmp_path: Path, cluster_env: dict[str, str]
) -> None:
    async with running(tmp_path, cluster_env, "--workers", "2") as server:
        await _talk_across_workers(server)


async def _talk_across_workers(server: ServerProcess) -> None:
    base, ws_base = server.base_url, server.base_url.replace("http", "ws", 1)
    tracer = WorkerTracer()
    async with fresh_connections_session(tracer) as session:
        token = await register(session, base)
        chatbot = await create_chatbot(session, base, token, {"type": "echo"})
        operator = await session.ws_connect(
            f"{ws_base}/ws/chat/agent/", headers={"Authorization": f"Bearer {token}"}
        )
        operator_worker = tracer.last
        assert (await next_frame(operator))["type"] == "auth_ok"
        # The kernel spreads new connections over the workers: open visitors until one lands
        # on the other worker than the operator's.
        visitors: list[aiohttp.ClientWebSocketResponse] = []
        visitor = None
        try:
            for _ in range(40):
                candidate = await session.ws_connect(f"{ws_base}/ws/chat/public/{chatbot['slug']}/")
                visitors.append(candidate)
                if tracer.last != operator_worker:
                    visitor = candidate
                    break
            assert visitor is not None, f"every socket landed on worker {operator_worker}"
            assert tracer.last.isdigit()
            assert operator_worker.isdigit()
            welcome = await next_frame(visitor)
            assert welcome["type"] == "welcome"

            await visitor.send_json(
                {"type": "message", "text": "hello from afar", "client_id": "v1"}
            )
            seen = await frame_where(operator, is_message("visitor", "hello from afar"))
            conversation_id = seen["message"]["conversation_id"]
            assert conversation_id == welcome["conversation_id"]
            await frame_where(visitor, is_message("bot", "hello from afar"))

            await operator.send_json({"type": "takeover", "conversation_id": conversation_id})
            await frame_where(
                visitor, lambda f: f.get("type") == "status" and f.get("status") == "human"
            )
            await operator.send_json(
                {
                    "type": "message",
                    "conversation_id": conversation_id,
                    "text": "a person here",
                    "client_id": "o1",
                }
            )
            reply = await frame_where(visitor, is_message("operator", "a person here"))
            assert reply["message"]["seq"] > seen["message"]["seq"]
        finally:
            for socket in visitors:
                await socket.close()
            await operator.close()
