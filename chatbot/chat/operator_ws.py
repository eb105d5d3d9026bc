"""`GET /ws/chat/agent/`: the operators' WebSocket, as the contract describes it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import ClassVar

from aiohttp import WSMsgType, web

from chatbot import keys
from chatbot.auth.context import AuthUser
from chatbot.auth.middleware import bearer_token
from chatbot.auth.sessions import authenticate_token, session_state, user_out
from chatbot.auth.setup import TOKENS
from chatbot.auth.tokens import AccessClaims, TokenError
from chatbot.chat.guards import FrameBudget, operator_origin_allowed
from chatbot.chat.hub import Audience, Event
from chatbot.chat.protocol import (
    OPERATOR_FRAMES,
    Assign,
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
    message_frame,
    parse_frame,
    typing_frame,
)
from chatbot.chat.service import CHAT, ChatService
from chatbot.chat.session import Handler, SocketSession, upgrade_slot
from chatbot.chat.socket_kinds import SESSION_ENDED, OperatorSocket
from chatbot.chat.sockets import CLOSE_NOT_AUTHENTICATED
from chatbot.chat.store import ConversationGone, Write
from chatbot.conversations.repository import ConversationView, conversation_by_id
from chatbot.errors import ApiError, Forbidden, NotFound
from chatbot.http.request_id import request_id_of
from chatbot.http.routing import public
from chatbot.metrics import metrics_of
from chatbot.ratelimit.policies import limited
from chatbot.vocabulary import Status
from chatbot.workspaces.policy import authorize
from chatbot.workspaces.principal import Principal, memberships_of
from chatbot.workspaces.repository import membership
from chatbot.workspaces.roles import Action

log = logging.getLogger(__name__)

TYPING_INTERVAL_SECONDS = 1.0
_OWNED_CACHE_SIZE = 1000
TOKEN_EXPIRED = "the access token expired: reconnect with a fresh one"  # noqa: S105


@public  # authenticated below: by the bearer header or by the first frame, as the contract says
@limited("ws_connect_per_address")
async def operator_socket(request: web.Request) -> web.StreamResponse:
    """Check the origin before the upgrade; authenticate; then serve the operator."""
    app = request.app
    chat = app[CHAT]
    if not operator_origin_allowed(request, app[keys.SETTINGS]):
        raise Forbidden(
            f"the operator socket only accepts this server's own origin, not "
            f"{request.headers.get('Origin')}; other clients send Authorization: Bearer",
            code="origin_not_allowed",
        )
    with upgrade_slot(request, chat) as ws:
        await ws.prepare(request)
        authenticated = await _authenticate(request, ws, chat)
        if authenticated is None:
            return ws
        user, claims = authenticated
        principal = Principal.member(user.id)
        workspace_ids = tuple(m.workspace_id for m in await memberships_of(app, principal))
        socket = OperatorSocket(request, ws, chat.sockets, user_id=user.id, epoch=claims.epoch)
        session = OperatorSession(chat, user, socket, request_id_of(request))
        # The socket lives as long as its token: closed with 4001 when it expires.
        expiry = asyncio.get_running_loop().call_later(
            max(0.0, claims.expires_at - time.time()),
            socket.close,
            CLOSE_NOT_AUTHENTICATED,
            TOKEN_EXPIRED,
        )
        # Events of the rooms wait until auth_ok is sent: it is the first frame, and every
        # event from then on follows it.
        socket.hold()
        try:
            async with chat.hub.operator(socket, workspace_ids):
                # A password change between the token check and joining was not heard.
                state = await session_state(app, user.id)
                if state is None or state.epoch > claims.epoch:
                    socket.close(CLOSE_NOT_AUTHENTICATED, SESSION_ENDED)
                    await session.run()
                else:
                    socket.send(auth_ok_frame(user_out(user).model_dump()))
                    socket.release()
                    async with chat.presence.present(user.id):
                        await session.run()
        finally:
            expiry.cancel()
    return ws


async def _authenticate(
    request: web.Request, ws: web.WebSocketResponse, chat: ChatService
) -> tuple[AuthUser, AccessClaims] | None:
    """The operator and their token's claims, from the bearer header or the first frame; None
    after closing with 4001."""
    reason = "authentication failed"
    try:
        if "Authorization" in request.headers:
            return await _verified(request.app, bearer_token(request))
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
            return await _verified(request.app, frame.token)
    except TimeoutError:
        reason = f"no auth frame within {chat.settings.auth_timeout_seconds:g} seconds"
    except FrameError as error:
        reason = error.message
    except (ApiError, TokenError) as error:
        reason = error.message
    await _refuse(ws, reason)
    return None


async def _verified(app: web.Application, token: str) -> tuple[AuthUser, AccessClaims]:
    user = await authenticate_token(app, token)
    return user, app[TOKENS].decode_access(token)  # verified just now: from its cache


async def _refuse(ws: web.WebSocketResponse, reason: str) -> None:
    # Close reasons are limited to 123 bytes by the protocol.
    await ws.close(code=CLOSE_NOT_AUTHENTICATED, message=reason.encode()[:120])


class OperatorSession(SocketSession):
    """One operator socket: every conversation of the chatbots of the operator's workspaces."""

    __slots__ = ("_owned", "_typing_at", "principal", "user", "workspace_ids")

    kind = "operator"
    frames = OPERATOR_FRAMES

    def __init__(
        self, chat: ChatService, user: AuthUser, socket: OperatorSocket, request_id: str
    ) -> None:
        settings = chat.settings
        budget = FrameBudget(settings.operator_frames_per_second, settings.operator_frame_burst)
        super().__init__(chat, socket, budget, request_id)
        self.user = user
        self.principal = Principal.member(user.id)
        self.workspace_ids = socket.workspace_ids  # the hub keeps it as memberships change
        self._owned: dict[str, str] = {}  # conversation id -> its workspace id
        self._typing_at: dict[str, float] = {}

    async def _on_auth(self, frame: Auth) -> None:
        raise FrameError("invalid_message", "this socket is already authenticated")

    async def _workspace_of(self, conversation_id: str) -> str | None:
        """The conversation's workspace, when it is one of this socket's; else None."""
        workspace_id = self._owned.get(conversation_id)
        if workspace_id is not None:
            return workspace_id
        async with self.chat.engine.connect() as connection:
            view = await conversation_by_id(connection, conversation_id)
        if view is None or view.workspace_id not in self.workspace_ids:
            return None
        # A conversation never changes chatbot, nor a chatbot its workspace: safe to remember.
        self._owned[conversation_id] = view.workspace_id
        if len(self._owned) > _OWNED_CACHE_SIZE:
            del self._owned[next(iter(self._owned))]
        return view.workspace_id

    async def _require_owned(self, conversation_id: str, client_id: str | None = None) -> str:
        """The conversation's workspace, when the operator may work it now (checked on every
        frame, so that a removal or a role change holds at once). Another workspace's
        conversation reads exactly like one that does not exist."""
        missing = FrameError(
            "not_found",
            f"no conversation with id {conversation_id!r}",
            conversation_id=conversation_id,
            client_id=client_id,
        )
        workspace_id = await self._workspace_of(conversation_id)
        if workspace_id is None:
            raise missing
        try:
            await authorize(self.chat.app, self.principal, workspace_id, Action.OPERATE)
        except NotFound:
            raise missing from None
        except Forbidden as refused:
            raise FrameError(
                "forbidden", refused.message, conversation_id=conversation_id, client_id=client_id
            ) from None
        return workspace_id

    async def _on_message(self, frame: OperatorMessage) -> None:
        workspace_id = await self._require_owned(frame.conversation_id, frame.client_id)
        metrics_of(self.chat.app).messages_in_total.inc()
        write = Write(
            frame.conversation_id, "operator", frame.text.strip(), frame.client_id, self.user.id
        )
        try:
            stored = await self.chat.append(write, workspace_id)
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
        self.chat.announce(stored, workspace_id)

    async def _on_takeover(self, frame: Takeover) -> None:
        # A conversation nobody works is assigned to whoever takes it over.
        await self._set_status(frame.conversation_id, "human", hand_off=True, claim=True)

    async def _on_release(self, frame: Release) -> None:
        await self._set_status(frame.conversation_id, "bot")

    async def _on_close(self, frame: CloseConversation) -> None:
        await self._set_status(frame.conversation_id, "closed")

    async def _on_assign(self, frame: Assign) -> None:
        conversation_id, assignee_id = frame.conversation_id, frame.user_id
        workspace_id = await self._require_owned(conversation_id)
        if assignee_id is not None and not await membership(
            self.chat.engine, assignee_id, workspace_id
        ):
            raise FrameError(
                "not_a_member",
                f"user {assignee_id!r} is not a member of this conversation's workspace: "
                "assign one of its members, or null for nobody",
                conversation_id=conversation_id,
            )
        self._answer(conversation_id, *await self.chat.assign(conversation_id, assignee_id))

    async def _set_status(
        self, conversation_id: str, status: Status, *, hand_off: bool = False, claim: bool = False
    ) -> None:
        await self._require_owned(conversation_id)
        claim_for = self.user.id if claim else None
        changed = await self.chat.set_status(
            conversation_id, status, hand_off=hand_off, claim_for=claim_for
        )
        self._answer(conversation_id, *changed)

    def _answer(self, conversation_id: str, view: ConversationView | None, changed: bool) -> None:
        """After a change: nothing more when the operators were told; the conversation as it
        is when nothing changed; not_found when it is gone."""
        if view is None:
            self._owned.pop(conversation_id, None)
            raise FrameError(
                "not_found",
                f"no conversation with id {conversation_id!r}",
                conversation_id=conversation_id,
            )
        if not changed:  # already so: this operator still gets the conversation as it is
            self.socket.send(conversation_frame(view.as_json()))

    async def _on_typing(self, frame: OperatorTyping) -> None:
        conversation_id = frame.conversation_id
        workspace_id = await self._require_owned(conversation_id)
        now = time.monotonic()
        if now - self._typing_at.get(conversation_id, 0.0) < TYPING_INTERVAL_SECONDS:
            return
        self._typing_at[conversation_id] = now
        if len(self._typing_at) > _OWNED_CACHE_SIZE:
            del self._typing_at[next(iter(self._typing_at))]
        event = Event(typing_frame("operator", conversation_id), conversation_id)
        self.chat.hub.publish(event, workspace_id, Audience.EVERYONE)

    async def _on_resume(self, frame: OperatorResume) -> None:
        await self._require_owned(frame.conversation_id)
        self.socket.replay(frame.conversation_id, frame.after, tagged=True)

    handlers: ClassVar[Mapping[type[Frame], Handler]] = {
        OperatorMessage: _on_message,
        Takeover: _on_takeover,
        Release: _on_release,
        CloseConversation: _on_close,
        Assign: _on_assign,
        OperatorTyping: _on_typing,
        OperatorResume: _on_resume,
        Auth: _on_auth,
        Ping: SocketSession._on_ping,
    }
