"""Checks made before a WebSocket upgrade: origins, and the socket options from the settings."""

from __future__ import annotations

import time

from aiohttp import web
from yarl import URL

from chatbot.chatbots.origins import OriginError, normalize_origin
from chatbot.config import Settings
from chatbot.errors import BadRequest

# The chat's subprotocol: selected when offered, as browsers require once they offer any.
PROTOCOL = "chatbot.v1"


def websocket_response(settings: Settings) -> web.WebSocketResponse:
    """A response with the chat's limits: frame size (1009 beyond), compression, heartbeats."""
    chat = settings.chat
    return web.WebSocketResponse(
        protocols=(PROTOCOL,),
        # aiohttp refuses a frame of exactly max_msg_size bytes; the limit is the largest allowed.
        max_msg_size=chat.max_frame_bytes + 1,
        compress=chat.compression,
        heartbeat=chat.heartbeat_seconds,
        autoping=True,
    )


def require_websocket(request: web.Request, ws: web.WebSocketResponse) -> None:
    """A plain HTTP request to a socket path gets a JSON 400 that says what to do."""
    if not ws.can_prepare(request).ok:
        raise BadRequest(
            f"{request.path} is a WebSocket endpoint: connect with a WebSocket client (ws:// or "
            "wss://), not a plain HTTP request",
            code="websocket_required",
        )


def _own_origins(request: web.Request, settings: Settings) -> set[str]:
    origins: set[str] = set()
    for candidate in (f"{request.scheme}://{request.host}", settings.public_url):
        if candidate:
            try:
                origins.add(normalize_origin(candidate))
            except OriginError:
                continue
    return origins


def operator_origin_allowed(request: web.Request, settings: Settings) -> bool:
    """The operator socket is for the server's own dashboard, or for non-browser clients.

    Allowed: no Origin (not a browser), a bearer header (browsers cannot forge one across
    sites), or an Origin naming this server (its Host header or `public_url`).
    """
    origin = request.headers.get("Origin")
    if origin is None or request.headers.get("Authorization", "").lower().startswith("bearer "):
        return True
    return is_own_origin(request, settings, origin)


def is_own_origin(request: web.Request, settings: Settings, origin: str) -> bool:
    """Whether `origin` names this server (its Host header or `public_url`)."""
    try:
        normalized = normalize_origin(origin)
    except OriginError:
        return False
    if normalized in _own_origins(request, settings):
        return True
    # Behind a TLS-terminating proxy the scheme seen here may differ from the browser's.
    return URL(normalized).raw_authority == request.host.lower()


class FrameBudget:
    """A token bucket for the frames that cost no message: a flood is refused, not served.

    Its rate and burst are settings (`chat.visitor_frames_per_second`, ...), read once per socket.
    """

    def __init__(self, rate: float, burst: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
