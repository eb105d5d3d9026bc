"""Helpers for the production tests: real server processes, API calls, a slow model server."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import api_support
from aiohttp import WSMsgType, web
from api_support import bearer, unique_email

from support import FakeModel, ServerProcess

Frame = dict[str, Any]
WORKER_HEADER = "X-Chatbot-Worker"
PASSWORD = api_support.PASSWORD  # the tests that log in read it from here


def server_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment of a `chatbot serve` under test: no config file, no Redis unless given."""
    config = tmp_path / "none.yaml"
    config.write_text("{}\n")
    return {
        "CHATBOT_DATABASE_URL": f"sqlite:///{tmp_path}/chatbot.db",
        "CHATBOT_REDIS_URL": "",
        "CHATBOT_CONFIG": str(config),
        "CHATBOT_REDIS_PREFIX": f"test{uuid.uuid4().hex[:12]}",
        **extra,
    }


@asynccontextmanager
async def running(
    tmp_path: Path, env: dict[str, str], *args: str, name: str = "server", timeout: float = 45.0
) -> AsyncIterator[ServerProcess]:
    """A `chatbot serve` process, ready, killed on exit whatever happened."""
    server = ServerProcess(env, args=args)
    server.start(tmp_path / f"{name}.log")
    try:
        await server.wait_ready(timeout=timeout)
        yield server
    finally:
        server.stop()


class WorkerTracer:
    """Records the `X-Chatbot-Worker` header of each response (WebSocket upgrades included)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.config = aiohttp.TraceConfig()
        self.config.on_request_end.append(self._on_end)

    async def _on_end(
        self,
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        self.seen.append(params.response.headers.get(WORKER_HEADER, ""))

    @property
    def last(self) -> str:
        return self.seen[-1]


def fresh_connections_session(tracer: WorkerTracer | None = None) -> aiohttp.ClientSession:
    """A session opening a new connection per request, so that the kernel picks a worker each."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True),
        trace_configs=[tracer.config] if tracer else None,
        timeout=aiohttp.ClientTimeout(total=30),
    )


async def register(session: aiohttp.ClientSession, base_url: str) -> str:
    """A new account's access token."""
    body = await api_support.register(session, base_url=base_url, email=unique_email("owner"))
    token: str = body["access"]
    return token


async def create_chatbot(
    session: aiohttp.ClientSession, base_url: str, token: str, brain: dict[str, Any]
) -> dict[str, Any]:
    """A chatbot without greeting, so that the conversation starts empty."""
    return await api_support.create_chatbot(
        session, bearer(token), base_url=base_url, name="Production test", greeting="", brain=brain
    )


async def next_frame(ws: aiohttp.ClientWebSocketResponse, timeout: float = 10.0) -> Frame:
    message = await ws.receive(timeout=timeout)
    assert message.type == WSMsgType.TEXT, f"expected a text frame, got {message}"
    frame: Frame = json.loads(message.data)
    return frame


async def frame_where(
    ws: aiohttp.ClientWebSocketResponse, match: Callable[[Frame], bool], timeout: float = 10.0
) -> Frame:
    """The first frame that matches, skipping the others, within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        frame = await next_frame(ws, max(0.01, deadline - time.monotonic()))
        if match(frame):
            return frame


def is_message(role: str, text: str | None = None) -> Callable[[Frame], bool]:
    def match(frame: Frame) -> bool:
        message = frame.get("message") or {}
        return (
            frame.get("type") == "message"
            and message.get("role") == role
            and (text is None or message.get("text") == text)
        )

    return match


async def metric_value(
    session: aiohttp.ClientSession, base_url: str, name: str, **labels: str
) -> float:
    """One sample of `/metrics` (0 when absent)."""
    async with session.get(f"{base_url}/metrics") as response:
        assert response.status == 200, await response.text()
        return sample(await response.text(), name, **labels)


def sample(exposition: str, name: str, **labels: str) -> float:
    """The value of the sample `name{labels}` in a Prometheus text exposition (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(exposition):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return 0.0


class SlowModelServer(FakeModel):
    """A model answering slowly, streamed or not; counts requests and finished answers."""

    def __init__(self, words: list[str], delay: float) -> None:
        super().__init__(words, delay)
        self.requests = 0
        self.finished = 0

    async def completions(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        body = await request.json()
        if not body.get("stream"):
            await asyncio.sleep(self.delay * len(self.words))
            self.finished += 1
            return web.json_response(
                {
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": self.answer}}
                    ]
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for word in self.words:
            chunk = {"choices": [{"index": 0, "delta": {"content": word}}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await asyncio.sleep(self.delay)
        done = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        await response.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
        await response.write_eof()
        self.finished += 1
        return response
