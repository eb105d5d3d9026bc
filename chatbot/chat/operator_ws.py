"""`GET /ws/chat/agent/`: the operators' WebSocket, as the contract describes it."""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import WSMsgType, web

from chatbot import keys
from chatbot.auth.context import AuthUser
from chatbot.auth.middleware import bearer_token
from chatbot.auth.sessions import authenticate_token, user_out
from chatbot.chat.conversations import Status
from chatbot.chat.guards import (
    FrameBudget,
    operator_origin_allowed,
    require_websocket,
    websocket_response,
)
from chatbot.chat.hub import Audience, Event
from chatbot.chat.protocol import (
    OPERATOR_FRAMES,
    PONG_FRAME,
    Auth,
    CloseConversation,
    Frame,
    FrameError,
    OperatorMessage,
    OperatorResume,
    OperatorTyping,
    Ping,
    Release,
    Takeover,
    auth_ok_frame,
    conversation_frame,
    error_frame,
    message_frame,
    parse_frame,
    typing_frame,
)
from chatbot.chat.service import ChatService
from chatbot.chat.socket_kinds import OperatorSocket
from chatbot.chat.sockets import CLOSE_NOT_AUTHENTICATED
from chatbot.chat.store import ConversationGone, StoreUnavailable, Write
from chatbot.chat.visitor_ws import BINARY_REFUSED
from chatbot.conversations.repository import owned_conversation
from chatbot.errors import ApiError, Forbidden, ServiceUnavailable
from chatbot.http.routing import public
from chatbot.metrics import metrics_of
from chatbot.ratelimit.policies import limited

log = logging.getLogger(__name__)

TYPING_INTERVAL_SECONDS = 1.0
_OWNED_CACHE_SIZE = 1000


@public  # authenticated below: by the bearer header or by the first frame, as the contract says
@limited("ws_connect_per_address")
async def operator_socket(request: web.Request) -> web.StreamResponse:
    """Check the origin before the upgrade; authenticate; then serve the operator."""
    app = request.app
    settings = app[keys.SETTINGS]
    chat = app[keys.CHAT]
    if not operator_origin_allowed(request, settings):
        raise Forbidden(
            f"the operator socket only accepts this server's own origin, not "
            f"{request.headers.get('Origin')}; other clients send Authorization: Bearer",
            code="origin_not_allowed",
        )
    ws = websocket_response(settings)
    require_websocket(request, ws)
    if chat.stopping:
        raise ServiceUnavailable("the server is shutting down: reconnect in a moment")
    await ws.prepare(request)
    user = await _authenticate(request, ws, chat)
    if user is None:
        return ws
    socket = OperatorSocket(request, ws, chat.sockets, tenant_id=user.id)
    gauge = metrics_of(app).websockets_open.labels(kind="operator")
    gauge.inc()
    try:
        await OperatorSession(chat, user, socket).run()
    finally:
        gauge.dec()
    return ws


async def _authenticate(
    request: web.Request, ws: web.WebSocketResponse, chat: ChatService
) -> AuthUser | None:
    """The operator, from the bearer header or the first frame; None after closing with 4001."""
    reason = "authentication failed"
    try:
        if "Authorization" in request.headers:
            return await authenticate_token(request.app, bearer_token(request))
        async with asyncio.timeout(chat.settings.auth_timeout_seconds):
            message = await ws.receive()
        if message.type is not WSMsgType.TEXT:
            if not ws.closed:
                await _refuse(ws, "send an auth frame first")
            return None
        frame = parse_frame(
            message.data, OPERATOR_FRAMES, max_text_length=chat.settings.max_text_length
        )
        if not isinstance(frame, Auth):
            reason = 'the first frame must be {"type": "auth", "token": "<access token>"}'
        else:
            return await authenticate_token(request.app, frame.token)
    except TimeoutError:
        reason = f"no auth frame within {chat.settings.auth_timeout_seconds:g} seconds"
    except FrameError as error:
        reason = error.message
    except ApiError as error:
        reason = error.message
    await _refuse(ws, reason)
    return None


async def _refuse(ws: web.WebSocketResponse, reason: str) -> None:
    # Close reasons are limited to 123 bytes by the protocol.
    await ws.close(code=CLOSE_NOT_AUTHENTICATED, message=reason.encode()[:120])


class OperatorSession:
    """One operator socket: every conversation of the operator's own chatbots."""

    def __init__(self, chat: ChatService, user: AuthUser, socket: OperatorSocket) -> None:
        self.chat = chat
        self.user = user
        self.tenant_id = user.id
        self.socket = socket
        self.budget = FrameBudget(rate=20.0, burst=60.0)
        self._owned: dict[str, None] = {}  # conversation ids checked to be the tenant's
        self._typing_at: dict[str, float] = {}

    async def run(self) -> None:
        await self.chat.hub.join_operators(self.tenant_id, self.socket)
        try:
            self.socket.send(auth_ok_frame(user_out(self.user).model_dump()))
            async for message in self.socket.ws:
                if message.type is WSMsgType.TEXT:
                    await self._handle(message.data)
                elif message.type is WSMsgType.BINARY:
                    self.socket.send(BINARY_REFUSED)
                elif message.type is WSMsgType.ERROR:
                    break
                if self.socket.closing:
                    break
        finally:
            await self.chat.hub.leave_operators(self.tenant_id, self.socket)
            if not self.socket.closing:
                self.socket.close(1000, "")
            await self.socket.wait_closed()

    async def _handle(self, text: str) -> None:
        try:
            frame = parse_frame(
                text, OPERATOR_FRAMES, max_text_length=self.chat.settings.max_text_length
            )
            if not self.budget.take():
                raise FrameError("rate_limited", "too many frames: slow down", retry_after=1)
            await self._dispatch(frame)
        except FrameError as error:
            self.socket.send(error.frame())
        except Exception:
            log.exception("operator socket: failed to handle a frame")
            self.socket.send(
                error_frame("internal_error", "the server failed to handle this frame")
            )

    async def _dispatch(self, frame: Frame) -> None:
        if isinstance(frame, Ping):
            self.socket.send(PONG_FRAME)
            return
        if isinstance(frame, Auth):
            raise FrameError("invalid_message", "this socket is already authenticated")
        conversation_id: str = getattr(frame, "conversation_id", "")
        await self._require_owned(conversation_id, getattr(frame, "client_id", None))
        if isinstance(frame, OperatorMessage):
            await self._on_message(frame)
        elif isinstance(frame, Takeover):
            await self._set_status(conversation_id, "human", hand_off=True)
        elif isinstance(frame, Release):
            await self._set_status(conversation_id, "bot")
        elif isinstance(frame, CloseConversation):
            await self._set_status(conversation_id, "closed")
        elif isinstance(frame, OperatorTyping):
            await self._on_typing(conversation_id)
        elif isinstance(frame, OperatorResume):
            self.socket.replay(conversation_id, frame.after, tagged=True)

    async def _require_owned(self, conversation_id: str, client_id: str | None) -> None:
        """Another tenant's conversation reads exactly like one that does not exist."""
        if conversation_id in self._owned:
            return
        try:
            view = await owned_conversation(self.chat.engine, conversation_id, self.tenant_id)
        except Exception as exc:
            log.warning("operator socket: ownership check failed (%s)", exc)
            raise FrameError(
                "unavailable", "the database is unavailable: try again", client_id=client_id
            ) from None
        if view is None:
            raise FrameError(
                "not_found",
                f"no conversation with id {conversation_id!r}",
                conversation_id=conversation_id,
                client_id=client_id,
            )
        # A conversation never changes chatbot, nor a chatbot its owner: safe to remember.
        self._owned[conversation_id] = None
        if len(self._owned) > _OWNED_CACHE_SIZE:
            del self._owned[next(iter(self._owned))]

    async def _on_message(self, frame: OperatorMessage) -> None:
        metrics_of(self.chat.app).messages_in_total.inc()
        write = Write(
            frame.conversation_id, "operator", frame.text.strip(), frame.client_id, self.user.id
        )
        try:
            stored = await self.chat.store.append(write)
        except StoreUnavailable as exc:
            raise FrameError(
                "unavailable",
                f"not stored ({exc}): send it again later with the same client_id",
                client_id=frame.client_id,
                conversation_id=frame.conversation_id,
            ) from None
        except ConversationGone:
            self._owned.pop(frame.conversation_id, None)
            raise FrameError(
                "not_found",
                f"no conversation with id {frame.conversation_id!r}",
                conversation_id=frame.conversation_id,
                client_id=frame.client_id,
            ) from None
        if not stored.created:
            self.socket.send(message_frame(stored.message.as_json()))
            return
        self.chat.announce(stored, self.tenant_id)

    async def _set_status(
        self, conversation_id: str, status: Status, *, hand_off: bool = False
    ) -> None:
        try:
            view, changed = await self.chat.set_status(conversation_id, status, hand_off=hand_off)
        except Exception as exc:
            log.warning("operator socket: status change failed (%s)", exc)
            raise FrameError(
                "unavailable",
                "the status was not changed: try again",
                conversation_id=conversation_id,
            ) from None
        if view is None:
            raise FrameError(
                "not_found",
                f"no conversation with id {conversation_id!r}",
                conversation_id=conversation_id,
            )
        if not changed:  # already so: this operator still gets the conversation as it is
            self.socket.send(conversation_frame(view.as_json()))

    async def _on_typing(self, conversation_id: str) -> None:
        now = time.monotonic()
        if now - self._typing_at.get(conversation_id, 0.0) < TYPING_INTERVAL_SECONDS:
            return
        self._typing_at[conversation_id] = now
        if len(self._typing_at) > _OWNED_CACHE_SIZE:
            del self._typing_at[next(iter(self._typing_at))]
        event = Event(typing_frame("operator", conversation_id), conversation_id)
        self.chat.hub.publish(event, self.tenant_id, Audience.EVERYONE)
