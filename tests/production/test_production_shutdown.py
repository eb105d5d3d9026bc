"""SIGTERM: sockets close with 1001, answers in flight are stored, clients resume elsewhere."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import WSMsgType
from production_support import (
    Frame,
    SlowModelServer,
    create_chatbot,
    frame_where,
    is_message,
    next_frame,
    register,
    running,
    server_env,
)

pytestmark = pytest.mark.slow

WORDS = ["Once", *(f" word{index}" for index in range(19))]


@pytest.fixture
async def slow_model() -> AsyncIterator[SlowModelServer]:
    """A model server streaming 20 words, one every 0.1 s: a 2-second answer."""
    model = SlowModelServer(WORDS, delay=0.1)
    await model.start()
    yield model
    await model.close()


async def test_sigterm_alone_stops_a_server_with_status_0(tmp_path: Path) -> None:
    async with running(tmp_path, server_env(tmp_path)) as server:
        server.signal(signal.SIGTERM)
        assert await asyncio.to_thread(server.wait, 30) == 0
    assert "stopped" in server.output()
    assert "Traceback" not in server.output()


async def test_sigterm_during_a_streamed_answer_loses_nothing_after_resuming_elsewhere(
    tmp_path: Path, slow_model: SlowModelServer
) -> None:
    # The slow model listens on this machine.
    env = server_env(tmp_path, CHATBOT_BRAINS__ALLOW_PRIVATE_BASE_URLS="true")
    brain = {"type": "openai", "base_url": slow_model.base_url, "model": "slow-model"}
    async with running(tmp_path, env, name="first") as first, aiohttp.ClientSession() as session:
        token = await register(session, first.base_url)
        chatbot = await create_chatbot(session, first.base_url, token, brain)
        visitor_path = f"/ws/chat/public/{chatbot['slug']}/"
        ws = await session.ws_connect(first.base_url.replace("http", "ws", 1) + visitor_path)
        welcome = await next_frame(ws)
        await ws.send_json({"type": "message", "text": "tell me a story", "client_id": "q1"})
        ack = await frame_where(ws, is_message("visitor", "tell me a story"))
        await frame_where(ws, lambda frame: frame.get("type") == "bot_token")

        first.signal(signal.SIGTERM)  # mid-answer: the model has 1.9 s of words left
        seen = await _frames_until_closed(ws)
        assert ws.close_code == 1001
        assert await asyncio.to_thread(first.wait, 30) == 0, first.output()

    # The answer was streamed to its end and stored before the process exited.
    assert slow_model.finished == 1
    seqs = [frame["message"]["seq"] for frame in seen if frame.get("type") == "message"]
    last_seen = max([ack["message"]["seq"], *seqs])

    async with running(tmp_path, env, name="second") as second, aiohttp.ClientSession() as session:
        url = second.base_url.replace("http", "ws", 1) + visitor_path
        ws = await session.ws_connect(url, params={"visitor_token": welcome["visitor_token"]})
        again = await next_frame(ws)
        assert again["type"] == "welcome"
        assert again["conversation_id"] == welcome["conversation_id"]
        await ws.send_json({"type": "resume", "after": last_seen})
        replayed: list[Frame] = []
        while (frame := await next_frame(ws))["type"] != "resumed":
            if frame["type"] == "message":
                replayed.append(frame["message"])
        await ws.close()

    delivered = [*(f["message"] for f in seen if f.get("type") == "message"), *replayed]
    answers = [message for message in delivered if message["role"] == "bot"]
    assert [message["text"] for message in answers] == ["".join(WORDS)]
    assert frame["last_seq"] == answers[0]["seq"] == ack["message"]["seq"] + 1
    assert slow_model.requests == 1  # resuming replays the stored answer; it asks nothing new


async def _frames_until_closed(ws: aiohttp.ClientWebSocketResponse) -> list[Frame]:
    """Every JSON frame until the server closes the socket."""
    frames: list[Frame] = []
    async with asyncio.timeout(20):
        while True:
            message = await ws.receive()
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
                return frames
            if message.type == WSMsgType.TEXT:
                frames.append(message.json())
