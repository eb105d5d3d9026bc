"""One chat socket's receive loop, frame budget and error mapping; each socket kind dispatches.

A session reads frames one at a time in the order received, parses each into its typed frame
and calls the handler registered for that frame's type. Every failure of a handler is answered
here, in one place: a refused frame with its own code, an unreachable database or broker with
`unavailable` (the client may send it again), anything else with `internal_error` and the
request id that names the logged traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

from aiohttp import WSMsgType, web
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chatbot import keys
from chatbot.chat.guards import FrameBudget, require_websocket, websocket_response
from chatbot.chat.protocol import PONG_FRAME, Frame, FrameError, Ping, error_frame, parse_frame
from chatbot.chat.service import ChatService
from chatbot.chat.sockets import ChatSocket
from chatbot.chat.store import StoreUnavailable
from chatbot.errors import ServiceUnavailable
from chatbot.http.errors import is_dependency_failure
from chatbot.metrics import metrics_of
from chatbot.ratelimit.policies import client_address

log = logging.getLogger(__name__)

BINARY_REFUSED = error_frame("invalid_message", "frames must be JSON text, not binary")

Handler = Callable[[Any, Any], Awaitable[None]]


@contextmanager
def upgrade_slot(request: web.Request, chat: ChatService) -> Iterator[web.WebSocketResponse]:
    """The checks both sockets make before the upgrade; the response to upgrade with, and one
    of the client address's socket slots, held for the block."""
    settings = request.app[keys.SETTINGS]
    ws = websocket_response(settings)
    require_websocket(request, ws)
    if chat.stopping:
        raise ServiceUnavailable("the server is shutting down: reconnect in a moment")
    address = client_address(request, settings.rate_limits.trust_forwarded_for)
    with chat.socket_cap.hold(address):
        yield ws


def is_outage(error: BaseException) -> bool:
    """Whether `error` means the database or the broker could not be reached (worth a retry)."""
    return isinstance(
        error, StoreUnavailable | RedisConnectionError | RedisTimeoutError
    ) or is_dependency_failure(error)


class SocketSession:
    """A chat socket's frames, handled one at a time; subclasses register their handlers."""

    # Thousands of sessions stay open at once: no per-instance dict.
    __slots__ = ("budget", "chat", "request_id", "socket")

    kind: ClassVar[str]  # "visitor" or "operator", for the logs
    frames: ClassVar[Mapping[str, type[Frame]]]  # what the client may send, by `type`
    handlers: ClassVar[Mapping[type[Frame], Handler]]  # a method for each frame class
    unbudgeted: ClassVar[frozenset[type[Frame]]] = frozenset()  # limited elsewhere

    def __init__(
        self, chat: ChatService, socket: ChatSocket, budget: FrameBudget, request_id: str
    ) -> None:
        self.chat = chat
        self.socket = socket
        self.budget = budget
        self.request_id = request_id

    async def run(self) -> None:
        """Serve the socket's frames until it closes, then finish closing it."""
        socket = self.socket
        gauge = metrics_of(self.chat.app).websockets_open.labels(kind=self.kind)
        gauge.inc()
        try:
            # Oversized frames (1009) and text that is not UTF-8 (1007) are closed by aiohttp,
            # with the limits `guards.websocket_response` took from the settings.
            async for message in socket.ws:
                if message.type is WSMsgType.TEXT:
                    await self._handle(message.data)
                elif message.type is WSMsgType.BINARY:
                    socket.send(BINARY_REFUSED)
                elif message.type is WSMsgType.ERROR:
                    break
                if socket.closing:
                    break
        finally:
            if not socket.closing:
                socket.close(1000, "")
            await socket.wait_closed()
            gauge.dec()

    async def _handle(self, text: str) -> None:
        frame: Frame | None = None
        try:
            frame = parse_frame(
                text, self.frames, max_text_length=self.chat.settings.max_text_length
            )
            kind = type(frame)
            if kind not in self.unbudgeted and not self.budget.take():
                raise FrameError("rate_limited", "too many frames: slow down", retry_after=1)
            await self.handlers[kind](self, frame)
        except FrameError as error:
            self.socket.send(error.frame())
        except Exception as error:
            self.socket.send(self._failure_frame(frame, error))

    def _failure_frame(self, frame: Frame | None, error: Exception) -> bytes:
        """The one mapping of a handler's failure to the frame the client gets."""
        client_id: str | None = getattr(frame, "client_id", None)
        conversation_id: str | None = getattr(frame, "conversation_id", None)
        if is_outage(error):
            reason = " ".join(str(error).split())[:200] or type(error).__name__
            log.warning("%s socket: database or broker unavailable (%s)", self.kind, reason)
            if client_id is not None:
                advice = "not stored: send it again later with the same client_id"
            else:
                advice = "nothing was changed: try again in a moment"
            # The store's own reasons are written for clients; a driver's are not.
            if isinstance(error, StoreUnavailable):
                cause = str(error)
            else:
                cause = "the database or broker is unavailable"
            code, message = "unavailable", f"{cause}; {advice}"
        else:
            log.exception(
                "%s socket: failed to handle a frame (request id %s)", self.kind, self.request_id
            )
            code = "internal_error"
            message = (
                "the server failed to handle this frame; quote request id "
                f"{self.request_id} when reporting it"
            )
        details = {"client_id": client_id, "conversation_id": conversation_id}
        return FrameError(code, message, **details).frame()

    async def _on_ping(self, frame: Ping) -> None:
        self.socket.send(PONG_FRAME)
