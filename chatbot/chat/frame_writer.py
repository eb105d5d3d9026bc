"""How a chat socket's frames reach the wire: one small interface, two ways (`chat.frame_writer`).

`direct` (the default) writes a frame without waiting while the connection keeps up: the frame
is framed here as aiohttp would frame it, and the frames of one turn of the event loop leave in
one write to the transport (one system call). `plain` uses only aiohttp's public API: every
frame is awaited through `WebSocketResponse.send_frame`, from the socket's writer task. Both
close the same way, and both cut the TCP connection of a client that does not read its close.
"""

from __future__ import annotations

import asyncio
import struct
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import suppress
from functools import partial
from socket import AF_INET, AF_INET6, SO_LINGER, SOL_SOCKET
from typing import Literal

from aiohttp import WSMsgType, web

_RESET_ON_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, zero seconds
# Above this many bytes waiting in the transport, frames go through the queue and its drain.
_DIRECT_WRITE_LIMIT = 64 * 1024
# Frame parts (a header and a frame each) gathered for one write at most.
_MAX_CORKED = 128


class FrameWriter(ABC):
    """One socket's way to the wire: frames written now when possible, else awaited in order."""

    __slots__ = ("_transport", "_ws")

    def __init__(self, request: web.Request, ws: web.WebSocketResponse) -> None:
        self._ws = ws
        self._transport = request.transport

    @abstractmethod
    def write_now(self, frame: bytes) -> bool:
        """Write a text frame without waiting, or return False: the caller then queues it and
        hands it to `send` in order, after `flush`."""

    @abstractmethod
    def flush(self) -> None:
        """Write at once what `write_now` gathered (before a queued frame or the close frame)."""

    async def send(self, frame: bytes) -> None:
        """Write a text frame, waiting while the client is behind on reading."""
        await self._ws.send_frame(frame, WSMsgType.TEXT)

    async def close(
        self, code: int, reason: str, timeout: float, before: Sequence[bytes] = ()
    ) -> None:
        """Send the frames `before`, then the close frame, and wait for the client's; a client
        that has not read them by `timeout` has its connection cut, not left holding its
        buffers."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                for frame in before:
                    await self._ws.send_frame(frame, WSMsgType.TEXT)
                # Close reasons are limited to 123 bytes by the protocol.
                await self._ws.close(code=code, message=reason.encode()[:120])
        except (TimeoutError, ConnectionError, RuntimeError):
            pass
        finally:
            transport = self._transport
            if transport is not None and transport.get_write_buffer_size():
                loop.call_at(deadline, cut, transport)


class PlainFrameWriter(FrameWriter):
    """Only aiohttp's public API: every frame is awaited in the socket's writer task."""

    __slots__ = ()

    def write_now(self, frame: bytes) -> bool:
        return False

    def flush(self) -> None:
        pass  # nothing is ever gathered


class DirectFrameWriter(FrameWriter):
    """Frames written straight to the transport, those of one event-loop turn in one write."""

    # Thousands stay open at once: no per-instance dict.
    __slots__ = ("_corked", "_flusher")

    def __init__(
        self, request: web.Request, ws: web.WebSocketResponse, *, flusher: FrameFlusher
    ) -> None:
        super().__init__(request, ws)
        self._flusher = flusher
        self._corked: list[bytes] | None = None

    def write_now(self, frame: bytes) -> bool:
        corked = self._corked
        if corked is not None and len(corked) < _MAX_CORKED:
            # The connection was checked when this turn's first frame came.
            corked += (text_frame_header(len(frame)), frame)
            return True
        if corked is not None:  # a burst: written now, so the buffer check below counts it
            self.flush()
        transport = self._transport
        if (
            transport is None
            or transport.is_closing()
            or transport.get_write_buffer_size() > _DIRECT_WRITE_LIMIT
            or self._ws.closed
            or self._ws.compress
        ):
            return False
        self._corked = [text_frame_header(len(frame)), frame]
        self._flusher.add(self)
        return True

    def flush(self) -> None:
        corked, self._corked = self._corked, None
        transport = self._transport
        if corked and transport is not None and not transport.is_closing() and not self._ws.closed:
            transport.write(b"".join(corked))


class FrameFlusher:
    """Writes the frames every direct writer gathered in a turn of the event loop: one callback
    for all sockets per turn, and one write (one system call) per socket."""

    __slots__ = ("_scheduled", "_waiting")

    def __init__(self) -> None:
        self._waiting: list[DirectFrameWriter] = []
        self._scheduled = False

    def add(self, writer: DirectFrameWriter) -> None:
        """Flush `writer` soon; called when its first frame of the turn is gathered."""
        self._waiting.append(writer)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._next_turn)

    def _next_turn(self) -> None:
        # One more turn: a bot answer started by this turn's message (a task, whose first step
        # runs in the next turn) sends its `typing` and first tokens in the same write as the
        # message's acknowledgement, one system call less per round trip.
        asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        waiting, self._waiting = self._waiting, []
        self._scheduled = False
        for writer in waiting:
            writer.flush()


OpenWriter = Callable[[web.Request, web.WebSocketResponse], FrameWriter]


def frame_writers(kind: Literal["direct", "plain"]) -> OpenWriter:
    """What opens each socket's writer, for the `chat.frame_writer` setting; made once."""
    if kind == "plain":
        return PlainFrameWriter
    return partial(DirectFrameWriter, flusher=FrameFlusher())


def text_frame_header(length: int) -> bytes:
    """The header of a final, unmasked text frame of `length` bytes (RFC 6455, 5.2)."""
    if length < 126:
        return bytes((0x81, length))
    if length < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, length)
    return struct.pack("!BBQ", 0x81, 127, length)


def cut(transport: asyncio.Transport) -> None:
    """Drop a connection at once, with a TCP reset.

    A plain close, even `abort()`, leaves the kernel sending what it holds, and a client that
    reads nothing holds the connection open that way for minutes; a zero linger time resets it.
    """
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (AF_INET, AF_INET6):
        with suppress(OSError):
            sock.setsockopt(SOL_SOCKET, SO_LINGER, _RESET_ON_CLOSE)
    transport.abort()
