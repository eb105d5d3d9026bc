"""The chat's shared state: store, hub and bot runner (opened and closed by `chat/setup.py`)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Collection, Sequence

from aiohttp import web

from chatbot import keys
from chatbot.backends.presence import MemoryPresence, PresenceStore, RedisPresence
from chatbot.chat import visitor_tokens
from chatbot.chat.address_cap import SocketCap
from chatbot.chat.bot import BotRunner
from chatbot.chat.conversations import change_assignee, change_status
from chatbot.chat.frame_writer import frame_writers
from chatbot.chat.history import ChatHistory
from chatbot.chat.hub import Audience, Event, RoomHub
from chatbot.chat.presence import Presence
from chatbot.chat.protocol import conversation_frame, message_frame, status_frame
from chatbot.chat.sockets import CLOSE_GOING_AWAY, ChatSocket, SocketShared
from chatbot.chat.store import MessageStore, Stored, Write
from chatbot.config import ChatSettings
from chatbot.conversations.repository import ConversationView, conversation_by_id
from chatbot.metrics import metrics_of
from chatbot.vocabulary import Channel, Status
from chatbot.webhooks.subscriptions import Subscriptions
from chatbot.workspaces.repository import members as workspace_members

log = logging.getLogger(__name__)

_SHUTDOWN_CLOSE_SECONDS = 5.0


class ChatService:
    """What the socket handlers share: the message store, the room hub and the bot answers."""

    def __init__(self, app: web.Application) -> None:
        settings = app[keys.SETTINGS]
        engine = app[keys.ENGINE]
        self.app = app
        self.settings: ChatSettings = settings.chat
        self.engine = engine
        self.store = MessageStore(
            engine,
            batch_max=settings.chat.write_batch_max,
            queue_size=settings.chat.write_batch_max * 4,
            timeout=max(10.0, settings.dependency_timeout_seconds * 2),
        )
        self.hub = RoomHub(app[keys.BROKER], on_erased=self._forget_answers)
        self.webhooks = Subscriptions(engine)
        self.history = ChatHistory(engine)
        self.sockets = SocketShared(
            queue_size=settings.chat.outbound_queue_size,
            stall_timeout=settings.chat.stall_timeout_seconds,
            history=self.history,
            open_writer=frame_writers(settings.chat.frame_writer),
            on_message_sent=metrics_of(app).messages_out_total.inc,
        )
        self.bots = BotRunner(self)
        self.presence = Presence(
            _presence_store(app), self.hub, engine, settings.chat.presence_ttl_seconds
        )
        self.visitor_token_key = visitor_tokens.signing_key(settings.secret_key.get_secret_value())
        # An abuse limit like the rate limits, off with them (benchmarks, trusted networks).
        limits_on = settings.rate_limits.enabled
        self.socket_cap = SocketCap(settings.chat.max_sockets_per_address if limits_on else None)
        self.stopping = False

    async def append(self, write: Write, workspace_id: str) -> Stored:
        """Store a message, with the webhook events of its workspace in the same transaction."""
        hooks = write.hooks = await self.webhooks.hooks(workspace_id)
        stored = await self.store.append(write)
        if hooks is not None:
            self.webhooks.written()
        return stored

    def announce(
        self,
        stored: Stored,
        tenant_id: str,
        channel: Channel = "widget",
        *,
        visitor_id: str = "",
        user_id: str | None = None,
        conversation: ConversationView | None = None,
    ) -> None:
        """Publish a newly stored message to its conversation and to the tenant's operators.

        A conversation's first visitor message is preceded by its `conversation` event, so that
        dashboards know the conversation before its messages arrive: `channel` is the one it came
        through, `visitor_id` and `user_id` (verified) those of the visitor who wrote it;
        `conversation`, when given, is the conversation as read after the message (it may have
        changed before it, e.g. been assigned).
        """
        message = stored.message
        conversation_id = message.conversation_id
        if stored.first_visitor_message:
            view = conversation or ConversationView(
                id=conversation_id,
                chatbot_id=stored.chatbot_id,
                workspace_id=tenant_id,
                status=stored.status,
                last_seq=message.seq,
                handed_off=stored.handed_off,
                started_at=stored.started_at or message.created_at,
                last_message_at=message.created_at,
                last_message=message,
                channel=channel,
                visitor_id=visitor_id,
                user_id=user_id,
            )
            self.publish_conversation(view)
        event = Event(message_frame(message.as_json()), conversation_id, message.seq)
        self.hub.publish(event, tenant_id, Audience.EVERYONE)

    def _forget_answers(self, conversation_ids: Sequence[str]) -> None:
        self.bots.forget(conversation_ids)

    def publish_conversation(self, view: ConversationView) -> None:
        """Tell the tenant's operators about the conversation's current state."""
        event = Event(conversation_frame(view.as_json()), view.id)
        self.hub.publish(event, view.workspace_id, Audience.OPERATORS)

    async def set_status(
        self,
        conversation_id: str,
        status: Status,
        *,
        only_from: Collection[str] | None = None,
        hand_off: bool = False,
        claim_for: str | None = None,
    ) -> tuple[ConversationView | None, bool]:
        """Change the status (with `claim_for`, also assign that user if nobody is), then tell
        the visitor (`status`, when it changed) and operators (`conversation`)."""
        before = None if claim_for is None else await self._status_of(conversation_id)
        view, changed = await change_status(
            self.engine,
            conversation_id,
            status,
            only_from=only_from,
            hand_off=hand_off,
            claim_for=claim_for,
            hooks_of=self.webhooks.hooks,
        )
        if view is None or not changed:
            return view, False
        self.webhooks.written()
        if status != "bot":
            self.bots.cancel(conversation_id)
        if before != view.status:
            event = Event(status_frame(conversation_id, view.status), conversation_id)
            self.hub.publish(event, view.workspace_id, Audience.VISITORS)
        self.publish_conversation(view)
        return view, True

    async def _status_of(self, conversation_id: str) -> str | None:
        async with self.engine.connect() as connection:
            view = await conversation_by_id(connection, conversation_id)
        return None if view is None else view.status

    async def assign(
        self, conversation_id: str, assignee_id: str | None
    ) -> tuple[ConversationView | None, bool]:
        """Assign the conversation (the caller checked that `assignee_id` is a member of its
        workspace), then tell the operators (`conversation`) if that changed anything."""
        view, changed = await change_assignee(self.engine, conversation_id, assignee_id)
        if view is not None and changed:
            self.publish_conversation(view)
        return view, changed

    async def hand_off(
        self, conversation_id: str, only_from: Collection[str]
    ) -> tuple[ConversationView | None, bool]:
        """Status `waiting_for_human`; when nobody of the workspace is online, the visitor is
        told that the team will get back to them (`chat.offline_handoff_message`)."""
        view, changed = await self.set_status(
            conversation_id, "waiting_for_human", only_from=only_from, hand_off=True
        )
        if view is not None and changed and self.settings.offline_handoff_message:
            await self._tell_if_nobody_online(view)
        return view, changed

    async def _tell_if_nobody_online(self, view: ConversationView) -> None:
        members = await workspace_members(self.engine, view.workspace_id)
        try:
            online = await self.presence.online([member.user_id for member in members])
        except Exception as exc:  # unknown: better no message than a wrong one
            log.warning("chat: presence unavailable, no offline message sent (%s)", exc)
            return
        if online:
            return
        text = self.settings.offline_handoff_message
        stored = await self.append(Write(view.id, "bot", text), view.workspace_id)
        self.announce(stored, view.workspace_id)

    async def close_sockets(self) -> None:
        """Close every socket with 1001 so that clients reconnect, to another instance if any."""
        self.stopping = True
        sockets = [member for member in self.hub.members() if isinstance(member, ChatSocket)]
        for socket in sockets:
            socket.close(CLOSE_GOING_AWAY, "server shutting down: reconnect")
        if sockets:
            await asyncio.wait(
                [asyncio.ensure_future(socket.wait_closed()) for socket in sockets],
                timeout=_SHUTDOWN_CLOSE_SECONDS,
            )
        # Answers in progress are stored, so that their visitors get them when they resume.
        await self.bots.finish(_SHUTDOWN_CLOSE_SECONDS)


CHAT = web.AppKey("chat", ChatService)


def _presence_store(app: web.Application) -> PresenceStore:
    """In Redis when configured (every instance sees it), else in this process."""
    client = app[keys.REDIS]
    if client is None:
        return MemoryPresence()
    settings = app[keys.SETTINGS]
    instance = secrets.token_hex(8)
    ttl = settings.chat.presence_ttl_seconds
    return RedisPresence(client, settings.redis_prefix, instance, ttl)
