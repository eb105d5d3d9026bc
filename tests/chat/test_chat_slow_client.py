"""A client that stops reading is dropped with 4008, and its TCP connection cut soon after; the
others in its room do not wait for it."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import socket
import time

import pytest
from aiohttp import WSMsgType
from chat_helpers import create_chatbot, message_frame, next_frame, register, visitor_path

from conftest import ClientFactory
from support import until

TCP_ESTABLISHED = 1

pytestmark = pytest.mark.both_stacks


def _closed_with_4008(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if "closing with 4008" in record.getMessage()]


async def test_a_client_that_stops_reading_is_closed_with_4008_while_another_keeps_up(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chatbot.chat.sockets")
    client = await make_client(
        chat={"max_text_length": 60_000, "outbound_queue_size": 8},
        rate_limits={"enabled": False},
    )
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")
    big = "x" * 59_000
    round_trips: list[float] = []

    async with client.ws_connect(visitor_path(chatbot["slug"])) as fast:
        token = (await next_frame(fast))["visitor_token"]
        # The same visitor in a second tab that never reads: its frames pile up on the server.
        async with client.ws_connect(visitor_path(chatbot["slug"], token)) as slow:
            for index in range(150):
                if _closed_with_4008(caplog):
                    break  # read it now: its connection is cut once the stall timeout is over
                started = time.monotonic()
                client_id = f"big-{index}"
                await fast.send_json({"type": "message", "text": big, "client_id": client_id})
                await message_frame(fast, "visitor", client_id=client_id)
                await message_frame(fast, "bot", timeout=10)
                round_trips.append(time.monotonic() - started)

            frames = 0
            while True:
                received = await slow.receive(timeout=15)
                if received.type != WSMsgType.TEXT:
                    break
                frames += 1

    assert received.type == WSMsgType.CLOSE
    assert slow.close_code == 4008
    assert frames < 150 * 3, "the slow client was sent everything: it was never dropped"
    # A round trip takes milliseconds; waiting for the slow client would take the 15 s it
    # needs to be dropped. 2 s tells the two apart even on a loaded machine.
    assert max(round_trips) < 2.0, f"the reading client waited: {max(round_trips):.2f}s"


def _tcp_state(sock: socket.socket) -> int:
    """The connection's TCP state from the kernel (Linux TCP_INFO), without reading its data."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


async def _stalled_visitor(host: str, port: int, path: str) -> socket.socket:
    """A raw WebSocket client with a tiny receive buffer that reads the upgrade answer, then
    stops reading for good."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, (host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += await loop.sock_recv(sock, 1)  # byte by byte: nothing past the headers
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return sock


# A small queue fills: 4008 at once. A queue larger than all that is sent never fills: the
# writer waits for the client, and 4008 comes once a write has waited the stall timeout.
@pytest.mark.parametrize("queue_size", [8, 10_000], ids=["queue-full", "write-waits"])
async def test_a_stalled_client_s_tcp_connection_is_cut_soon_after_its_4008(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture, queue_size: int
) -> None:
    # The cut is a TCP reset: a client that reads nothing also never reads the FIN of a
    # graceful close (its window is shut), so only a reset changes its connection's state.
    caplog.set_level(logging.INFO, logger="chatbot.chat.sockets")
    client = await make_client(
        chat={"max_text_length": 60_000, "outbound_queue_size": queue_size},
        rate_limits={"enabled": False},
    )
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")
    big = "x" * 59_000

    async with client.ws_connect(visitor_path(chatbot["slug"])) as tab:
        token = (await next_frame(tab))["visitor_token"]
        path = visitor_path(chatbot["slug"], token)
        stalled = await _stalled_visitor(client.host, client.port, path)
        try:
            for index in range(300):
                if _closed_with_4008(caplog):
                    break
                await tab.send_json({"type": "message", "text": big, "client_id": f"b{index}"})
                await message_frame(tab, "bot", timeout=10)
            await until(lambda: bool(_closed_with_4008(caplog)), timeout=15, failure="no 4008")
            closed_at = _closed_with_4008(caplog)[0].created
            # Generous: the stall timeout is 3 s; the bound is the 10 s plus room for a
            # loaded test machine, and still far below the 35 s the connection used to linger.
            await until(
                lambda: _tcp_state(stalled) != TCP_ESTABLISHED,
                timeout=15,
                failure="the stalled client's TCP connection is still open",
            )
            assert time.time() - closed_at <= 12
        finally:
            stalled.close()
