"""The frame writers' contract, on real sockets and for each writer (`chat.frame_writer`):
frames arrive in the order they were sent, the close code given is the one the client gets, and
a client that stops reading is closed with 4008 when its queue is full or a write has waited
the stall timeout."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Literal, get_args

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType, web
from aiohttp.test_utils import TestClient
from chat_helpers import create_chatbot, next_frame, register, visitor_path
from pydantic import ValidationError

from chatbot.chat.frame_writer import (
    DirectFrameWriter,
    FrameWriter,
    PlainFrameWriter,
    frame_writers,
    text_frame_header,
)
from chatbot.chat.history import ChatHistory
from chatbot.chat.protocol import encode
from chatbot.chat.service import CHAT
from chatbot.chat.sockets import CLOSE_TOO_SLOW, ChatSocket, SocketShared
from chatbot.config import ChatSettings, ConfigError, load_settings
from chatbot.storage.engine import create_engine

from conftest import ClientFactory

Kind = Literal["direct", "plain"]
WRITER_CLASSES: dict[str, type[FrameWriter]] = {
    "direct": DirectFrameWriter,
    "plain": PlainFrameWriter,
}
BIG = "x" * 60_000  # a frame that fills socket buffers fast
STALL_TIMEOUT = 1.0

Client = TestClient[web.Request, web.Application]
Opened = asyncio.Queue[ChatSocket]  # the server side of each connection, as it opens
SocketServer = Callable[..., Awaitable[tuple[Client, Opened]]]


@pytest.fixture(params=list(get_args(Kind)))
def kind(request: pytest.FixtureRequest) -> Kind:
    value: Kind = request.param
    return value


@pytest.fixture
async def socket_server(
    aiohttp_client: Callable[..., Awaitable[Client]],
    kind: Kind,
    tmp_path: Path,
) -> AsyncIterator[SocketServer]:
    """A bare app whose one route opens a ChatSocket with the writer under test; the test sends
    through it. The socket reads the client's frames only to see the close handshake."""
    engine = create_engine(f"sqlite:///{tmp_path}/unused.db")  # frames only: never read

    async def serve(*, queue_size: int = 256) -> tuple[Client, Opened]:
        opened: Opened = asyncio.Queue()
        shared = SocketShared(
            queue_size=queue_size,
            stall_timeout=STALL_TIMEOUT,
            history=ChatHistory(engine),
            open_writer=frame_writers(kind),
        )

        async def handler(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            socket = ChatSocket(request, ws, shared)
            opened.put_nowait(socket)
            async for _ in ws:
                pass
            socket.close(1000, "")
            await socket.wait_closed()
            return ws

        app = web.Application()
        app.router.add_get("/ws", handler)
        return await aiohttp_client(app), opened

    yield serve
    await engine.dispose()


def numbered(index: int, text: str = "") -> bytes:
    return encode({"n": index, "text": text})


async def received_numbers(ws: ClientWebSocketResponse) -> list[int]:
    """Every frame's number until the server's close frame."""
    numbers = []
    while (message := await ws.receive(timeout=10)).type is WSMsgType.TEXT:
        numbers.append(message.json()["n"])
    assert message.type is WSMsgType.CLOSE, message
    return numbers


async def test_frames_arrive_in_order_then_the_close_code_given(
    socket_server: SocketServer, kind: Kind
) -> None:
    client, opened = await socket_server()
    async with client.ws_connect("/ws") as ws:
        socket = await asyncio.wait_for(opened.get(), 5)
        assert isinstance(socket.frame_writer, WRITER_CLASSES[kind])
        # Small frames (gathered into one write), big ones (past the buffer limit, queued) and a
        # long burst, across several turns of the event loop.
        for index in range(600):
            socket.send(numbered(index, BIG if index % 50 == 7 else ""))
            if index % 100 == 99:
                await asyncio.sleep(0)
        socket.close(4321, "done here")
        assert await received_numbers(ws) == list(range(600))
        assert ws.close_code == 4321


async def test_frames_sent_in_the_turn_of_a_close_arrive_before_it(
    socket_server: SocketServer,
) -> None:
    # An error frame saying why, then the close: the client must read both, whatever the writer.
    client, opened = await socket_server()
    async with client.ws_connect("/ws") as ws:
        socket = await asyncio.wait_for(opened.get(), 5)
        socket.send(numbered(0, "first"))
        socket.send(numbered(1, "why the socket closes"))
        socket.close(1013, "try again later")
        assert await received_numbers(ws) == [0, 1]
        assert ws.close_code == 1013


async def test_a_burst_of_one_turn_is_sent_whole_however_small_the_queue(
    socket_server: SocketServer,
) -> None:
    # A batch of stored messages reaches an operator in one turn: no sign of a slow client.
    client, opened = await socket_server(queue_size=8)
    async with client.ws_connect("/ws") as ws:
        socket = await asyncio.wait_for(opened.get(), 5)
        for index in range(1000):
            socket.send(numbered(index))
        received = [(await ws.receive_json(timeout=10))["n"] for _ in range(1000)]
        assert received == list(range(1000))
        assert not socket.closing


async def stop_reading_until_closed(
    client: Client,
    opened: Opened,
    send: Callable[[ChatSocket], Awaitable[None]],
) -> float:
    """Connect, never read while `send` runs, and return the seconds from its start until the
    socket closed; then read what arrived: numbered frames in order, then a 4008."""
    async with client.ws_connect("/ws") as ws:
        socket = await asyncio.wait_for(opened.get(), 5)
        started = time.monotonic()
        await send(socket)
        while not socket.closing:
            assert time.monotonic() - started < STALL_TIMEOUT + 5, "the stalled client stayed"
            await asyncio.sleep(0.01)
        took = time.monotonic() - started
        numbers = await received_numbers(ws)  # at once: before the stall timeout cuts it
        assert numbers == list(range(len(numbers)))
        assert ws.close_code == CLOSE_TOO_SLOW
    return took


async def test_a_stalled_client_is_closed_with_4008_when_its_queue_is_full(
    socket_server: SocketServer,
) -> None:
    client, opened = await socket_server(queue_size=8)
    sent = 0

    async def one_frame_a_turn(socket: ChatSocket) -> None:
        nonlocal sent
        while not socket.closing and sent < 2000:
            socket.send(numbered(sent, BIG))
            sent += 1
            await asyncio.sleep(0)

    took = await stop_reading_until_closed(client, opened, one_frame_a_turn)
    assert sent < 2000, "the socket kept taking frames the client never read"
    assert took < STALL_TIMEOUT, f"a full queue closes at once, not after {took:.2f} s"


async def test_a_stalled_client_is_closed_with_4008_once_a_write_waited_the_stall_timeout(
    socket_server: SocketServer,
) -> None:
    # A queue that never fills: the writer waits for the client, which never reads.
    client, opened = await socket_server(queue_size=100_000)

    async def a_burst(socket: ChatSocket) -> None:
        for index in range(400):  # far more than the kernel's and the client's buffers
            socket.send(numbered(index, BIG))

    took = await stop_reading_until_closed(client, opened, a_burst)
    assert STALL_TIMEOUT * 0.9 <= took < STALL_TIMEOUT + 2, f"closed after {took:.2f} s"


async def test_the_test_apps_use_the_frame_writer_the_environment_names(
    make_client: ClientFactory,
) -> None:
    # `CHATBOT_CHAT__FRAME_WRITER=plain pytest tests/chat` (CI's second pass) must reach the
    # sockets, or that pass would test the default writer twice.
    expected = WRITER_CLASSES[os.environ.get("CHATBOT_CHAT__FRAME_WRITER", "direct")]
    client = await make_client()
    chatbot = await create_chatbot(client, await register(client), greeting="")
    async with client.ws_connect(visitor_path(chatbot["slug"])) as ws:
        await next_frame(ws)
        sockets = [
            member for member in client.app[CHAT].hub.members() if isinstance(member, ChatSocket)
        ]
        assert sockets
        assert all(type(socket.frame_writer) is expected for socket in sockets)


def test_text_frame_headers_use_the_shortest_length_form() -> None:
    assert text_frame_header(5) == b"\x81\x05"
    assert text_frame_header(125) == b"\x81\x7d"
    assert text_frame_header(126) == b"\x81\x7e\x00\x7e"
    assert text_frame_header(65_535) == b"\x81\x7e\xff\xff"
    assert text_frame_header(65_536) == b"\x81\x7f" + (65_536).to_bytes(8, "big")


def test_the_frame_writer_is_direct_unless_set() -> None:
    assert ChatSettings().frame_writer == "direct"
    environ = {"CHATBOT_CHAT__FRAME_WRITER": "plain"}
    assert load_settings(None, environ).chat.frame_writer == "plain"


def test_an_unknown_frame_writer_is_refused_with_the_setting_and_its_choices() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(None, {"CHATBOT_CHAT__FRAME_WRITER": "fast"})
    message = str(refused.value)
    assert "'chat.frame_writer' is invalid" in message
    assert "'direct' or 'plain'" in message
    assert "CHATBOT_CHAT__FRAME_WRITER" in message
    with pytest.raises(ValidationError):
        ChatSettings.model_validate({"frame_writer": "raw"})
