"""`GET /ws/chat/public/{slug}/`: the visitor's WebSocket, as the contract describes it."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import ClassVar

from aiohttp import web

from chatbot import keys
from chatbot.chat.conversations import (
    OpenedConversation,
    conversation_snapshot,
    open_visitor_conversation,
    set_visitor_data,
    store_conversation,
)
from chatbot.chat.guards import FrameBudget, is_own_origin
from chatbot.chat.hub import Audience, Event
from chatbot.chat.protocol import (
    VISITOR_FRAMES,
    Frame,
    FrameError,
    Handoff,
    Identify,
    Ping,
    Resume,
    SendMessage,
    Typing,
    message_frame,
    status_frame,
    typing_frame,
    welcome_frame,
)
from chatbot.chat.service import CHAT, ChatService
from chatbot.chat.session import Handler, SocketSession, upgrade_slot
from chatbot.chat.socket_kinds import VisitorSocket
from chatbot.chat.sockets import CLOSE_CONVERSATION_GONE
from chatbot.chat.store import ConversationGone, Write
from chatbot.chatbots.identity import check_identity
from chatbot.chatbots.lookup import chatbot_by_slug
from chatbot.chatbots.origins import origin_allowed
from chatbot.chatbots.repository import ChatbotRecord
from chatbot.errors import Forbidden, NotFound
from chatbot.http.request_id import request_id_of
from chatbot.http.routing import public
from chatbot.metrics import metrics_of
from chatbot.ratelimit.check import check_rate
from chatbot.ratelimit.policies import limited

log = logging.getLogger(__name__)

TYPING_INTERVAL_SECONDS = 1.0
# The widget offers ["chatbot.v1", "chatbot.token.<visitor token>"]; the server selects v1.
TOKEN_PROTOCOL_PREFIX = "chatbot.token."  # noqa: S105 - a prefix, not a secret


@public
@limited("ws_connect_per_address")
async def visitor_socket(request: web.Request) -> web.StreamResponse:
    """Check the slug and the origin before the upgrade, then serve the visitor."""
    app = request.app
    chat = app[CHAT]
    slug = request.match_info["slug"]
    chatbot = await chatbot_by_slug(app, slug)
    if chatbot is None:
        raise NotFound(f"no chatbot with slug {slug!r}", code="chatbot_not_found")
    origin = request.headers.get("Origin")
    # The server's own pages (the demo page) may always talk to its chatbots.
    if not origin_allowed(origin, chatbot.allowed_origins) and not (
        origin is not None and is_own_origin(request, app[keys.SETTINGS], origin)
    ):
        raise Forbidden(
            f"the origin {origin} may not embed chatbot {slug!r}: add it to the chatbot's "
            "allowed_origins",
            code="origin_not_allowed",
        )
    user_id = verified_user(request, chatbot)  # before the upgrade, before any row is written
    with upgrade_slot(request, chat) as ws:
        opened = await _conversation_for(chat, chatbot, request, user_id)
        await ws.prepare(request)
        conversation = opened.conversation
        socket = VisitorSocket(request, ws, chat.sockets, unstored=conversation.new)
        session = VisitorSession(chat, chatbot, opened, socket, request_id_of(request), user_id)
        socket.hold()  # the welcome is the first frame, whatever the room delivers meanwhile
        async with chat.hub.conversation(chatbot.workspace_id, conversation.id, socket):
            try:
                await _welcome(chat, chatbot, opened, socket, identified=user_id is not None)
            finally:
                socket.release()
            await session.run()
    return ws


def verified_user(request: web.Request, chatbot: ChatbotRecord) -> str | None:
    """The user id the `user_id` and `user_hash` query parameters prove, or None (anonymous).

    With verification `off` they are ignored; `required` refuses an upgrade without a valid
    pair (403 `identity_required`); `optional` treats an invalid pair as anonymous.
    """
    mode = chatbot.identity_verification
    if mode == "off":
        return None
    query = request.query
    check = check_identity(chatbot.identity_secret, query.get("user_id"), query.get("user_hash"))
    if check.user_id is None and mode == "required":
        raise Forbidden(
            f"chatbot {chatbot.slug!r} talks only to verified visitors: {check.problem} "
            "(see docs/identity.md)",
            code="identity_required",
        )
    return check.user_id


def visitor_token_of(request: web.Request) -> str:
    """The visitor token offered as a `chatbot.token.<token>` subprotocol (kept out of URLs
    and so out of access logs), else the `visitor_token` query of older widgets."""
    for offered in request.headers.getall("Sec-WebSocket-Protocol", ()):
        for protocol in offered.split(","):
            protocol = protocol.strip()
            if protocol.startswith(TOKEN_PROTOCOL_PREFIX):
                return protocol[len(TOKEN_PROTOCOL_PREFIX) :]
    return request.query.get("visitor_token", "")


async def _welcome(
    chat: ChatService,
    chatbot: ChatbotRecord,
    opened: OpenedConversation,
    socket: VisitorSocket,
    *,
    identified: bool,
) -> None:
    """Queue the welcome (and a new conversation's greeting); the socket already listens."""
    conversation, greeting = opened.conversation, opened.greeting
    last_seq = conversation.last_seq
    if last_seq > 0:
        # Read again now that the socket listens, so that no message slips in between.
        try:
            last_seq = await chat.history.last_seq(conversation.id) or last_seq
        except Exception as exc:
            log.warning("visitor socket: could not re-read the last seq (%s)", exc)
    profile = {"slug": chatbot.slug, "name": chatbot.name, "theme": dict(chatbot.theme)}
    if chatbot.greeting:
        profile["greeting"] = chatbot.greeting
    socket.send(
        welcome_frame(
            conversation_id=conversation.id,
            visitor_token=opened.visitor_token,
            chatbot=profile,
            last_seq=last_seq,
            status=conversation.status,
            visitor_id=opened.visitor_id,
            identified=identified,
        )
    )
    socket.mark_sent(conversation.id, last_seq)
    if greeting is not None:
        socket.send(message_frame(greeting.as_json()))
        socket.mark_sent(conversation.id, greeting.seq)


async def _conversation_for(
    chat: ChatService, chatbot: ChatbotRecord, request: web.Request, user_id: str | None
) -> OpenedConversation:
    """The visitor token's conversation (for a verified user, theirs), or a new one (an unknown
    token starts afresh), which is stored only at the visitor's first message."""
    token = visitor_token_of(request)
    return await open_visitor_conversation(
        chat.engine,
        chat.visitor_token_key,
        chatbot.id,
        chatbot.greeting,
        token,
        retention_days=chatbot.retention_days,
        user_id=user_id,
    )


class VisitorSession(SocketSession):
    """One visitor socket: its conversation's frames."""

    # Thousands of these stay open at once: no per-instance dict, and no chatbot record kept.
    __slots__ = (
        "_typing_at",
        "chatbot_id",
        "conversation_id",
        "tenant_id",
        "user_id",
        "visitor_id",
    )

    socket: VisitorSocket  # the base's ChatSocket: a visitor's, with its unstored conversation
    kind = "visitor"
    frames = VISITOR_FRAMES
    # Messages are limited per conversation by the `visitor_messages` policy instead.
    unbudgeted = frozenset({SendMessage})

    def __init__(
        self,
        chat: ChatService,
        chatbot: ChatbotRecord,
        opened: OpenedConversation,
        socket: VisitorSocket,
        request_id: str,
        user_id: str | None = None,
    ) -> None:
        settings = chat.settings
        budget = FrameBudget(settings.visitor_frames_per_second, settings.visitor_frame_burst)
        super().__init__(chat, socket, budget, request_id)
        self.chatbot_id = chatbot.id
        self.tenant_id = chatbot.workspace_id
        self.conversation_id = opened.conversation.id
        self.visitor_id = opened.visitor_id
        self.user_id = user_id  # verified at the upgrade; the conversation's own
        self._typing_at = 0.0

    async def _on_message(self, frame: SendMessage) -> None:
        app = self.chat.app
        metrics_of(app).messages_in_total.inc()
        decision = await check_rate(app, "visitor_messages", self.conversation_id)
        if not decision.allowed:  # check_rate counted it in chatbot_rate_limited_total
            raise FrameError(
                "rate_limited",
                f"too many messages: at most {decision.limit} every {decision.window} s; "
                f"send again in {decision.retry_after} s",
                retry_after=decision.retry_after,
                client_id=frame.client_id,
            )
        unstored = self.socket.unstored
        write = Write(
            self.conversation_id,
            "visitor",
            frame.text.strip(),
            frame.client_id,
            new_conversation=unstored,
        )
        try:
            stored = await self.chat.append(write, self.tenant_id)
        except ConversationGone:
            self.socket.close(CLOSE_CONVERSATION_GONE, "the conversation no longer exists")
            return
        if unstored is not None:  # stored now, by this message or another socket's
            self.socket.unstored = None
        if not stored.created:
            self.socket.send(message_frame(stored.message.as_json()))
            return
        conversation = None
        if stored.first_visitor_message and stored.handed_off:
            # Stored earlier by a request for a person: it may have been assigned since.
            async with self.chat.engine.connect() as connection:
                conversation = await conversation_snapshot(connection, self.conversation_id)
        self.chat.announce(
            stored,
            self.tenant_id,
            visitor_id=self.visitor_id,
            user_id=self.user_id,
            conversation=conversation,
        )
        status = stored.status
        if status == "closed":
            view, _ = await self.chat.set_status(self.conversation_id, "bot", only_from=("closed",))
            status = view.status if view is not None else status
        if status == "bot":
            self.chat.bots.answer(self.chatbot_id, self.tenant_id, stored.message)

    async def _on_resume(self, frame: Resume) -> None:
        self.socket.replay(self.conversation_id, frame.after)

    async def _on_typing(self, frame: Typing) -> None:
        now = time.monotonic()
        if now - self._typing_at < TYPING_INTERVAL_SECONDS:
            return  # operators need one indicator per second at most
        self._typing_at = now
        event = Event(typing_frame("visitor", self.conversation_id), self.conversation_id)
        self.chat.hub.publish(event, self.tenant_id, Audience.OPERATORS)

    async def _on_handoff(self, frame: Handoff) -> None:
        # Operators must see a conversation that waits for them: it is stored now.
        unstored = self.socket.unstored
        if unstored is not None:
            hooks = await self.chat.webhooks.hooks(self.tenant_id)
            if not await store_conversation(self.chat.engine, unstored, hooks):
                self.socket.close(CLOSE_CONVERSATION_GONE, "the conversation no longer exists")
                return
            self.socket.unstored = None
        view, changed = await self.chat.hand_off(self.conversation_id, only_from=("bot", "closed"))
        if view is None:
            self.socket.close(CLOSE_CONVERSATION_GONE, "the conversation no longer exists")
        elif not changed:  # already with (or waiting for) a person: say so all the same
            self.socket.send(status_frame(self.conversation_id, view.status))

    async def _on_identify(self, frame: Identify) -> None:
        unstored = self.socket.unstored
        if unstored is not None:
            if await self.chat.history.last_seq(self.conversation_id) is None:
                # Kept until the conversation is stored, and stored with it.
                self.socket.unstored = replace(unstored, visitor_data=frame.data)
                return
            self.socket.unstored = None  # another socket of the visitor stored it
        await set_visitor_data(self.chat.engine, self.conversation_id, frame.data)

    handlers: ClassVar[Mapping[type[Frame], Handler]] = {
        SendMessage: _on_message,
        Resume: _on_resume,
        Typing: _on_typing,
        Handoff: _on_handoff,
        Identify: _on_identify,
        Ping: SocketSession._on_ping,
    }
