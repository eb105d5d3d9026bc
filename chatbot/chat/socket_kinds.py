"""The two kinds of chat sockets: what differs when a resume fails, a resync is due, or (for
operators) the account's session ends."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from aiohttp import web

from chatbot.chat.protocol import RESYNCED_FRAME, message_frame, resumed_frame
from chatbot.chat.sockets import (
    CLOSE_NOT_AUTHENTICATED,
    CLOSE_TRY_AGAIN_LATER,
    ChatSocket,
    SocketShared,
    _Replay,
)
from chatbot.chat.writes import NewConversation

log = logging.getLogger(__name__)

SESSION_ENDED = "the session ended (the account's password changed): log in again"


class VisitorSocket(ChatSocket):
    """A visitor's socket: one conversation; a resume it cannot serve makes it reconnect."""

    __slots__ = ("unstored",)

    def __init__(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        shared: SocketShared,
        *,
        unstored: NewConversation | None = None,
    ) -> None:
        super().__init__(request, ws, shared)
        # The conversation while neither this socket nor another of its visitor stored it.
        self.unstored = unstored

    def on_replay_failed(self) -> None:
        self.close(CLOSE_TRY_AGAIN_LATER, "the database is unavailable: reconnect later")

    async def _replay(self, item: _Replay) -> None:
        new = self.unstored
        if new is None or await self._stored_elsewhere(new.id):
            await super()._replay(item)
            return
        # Nothing stored yet: the conversation holds only the greeting this visitor was sent.
        greeting = new.greeting
        last = 0 if greeting is None else greeting.seq
        if greeting is not None and item.after < greeting.seq:
            await self._send_message(message_frame(greeting.as_json()))
        self.mark_sent(new.id, max(self._sent.get(new.id, 0), last))
        await self._send(resumed_frame(last, None))

    async def _stored_elsewhere(self, conversation_id: str) -> bool:
        """Whether another socket of the visitor stored the conversation (True when the
        database cannot say: the stored replay then reports the failure)."""
        try:
            stored = await self._shared.history.last_seq(conversation_id) is not None
        except Exception:
            return True
        if stored:
            self.unstored = None
        return stored


class OperatorSocket(ChatSocket):
    """An operator's socket: every conversation of the chatbots of the user's workspaces."""

    __slots__ = ("epoch", "user_id", "workspace_ids")

    def __init__(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        shared: SocketShared,
        *,
        user_id: str,
        workspace_ids: tuple[str, ...],
        epoch: int,
    ) -> None:
        super().__init__(request, ws, shared)
        self.user_id = user_id
        self.workspace_ids = workspace_ids  # the workspaces whose events it receives
        self.epoch = epoch  # the session epoch of the token that opened it

    def end_session(self, epoch: int) -> None:
        if self.epoch < epoch:
            self.close(CLOSE_NOT_AUTHENTICATED, SESSION_ENDED)

    async def _resync(self, since: datetime | None) -> None:
        # Conversations this socket never heard of during the outage are found by time.
        start = self.since if since is None else max(self.since, since - timedelta(seconds=10))
        try:
            missed = await self._shared.history.tenant_messages_since(self.workspace_ids, start)
        except Exception as exc:
            log.warning("chat socket: operator resync failed (%s)", exc)
            return
        for message in missed:
            last = self._sent.get(message.conversation_id)
            if last is not None and message.seq <= last:
                continue
            if last is not None and message.seq > last + 1:
                await self._fill(message.conversation_id, last, message.seq - 1)
            await self._send_message(message_frame(message.as_json()))
            self.mark_sent(message.conversation_id, message.seq)
        await self._send(RESYNCED_FRAME)
