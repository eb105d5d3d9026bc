"""The two kinds of chat sockets: what differs when a resume fails, a resync is due, or (for
operators) the account's session ends."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from aiohttp import web

from chatbot.chat.protocol import RESYNCED_FRAME, message_frame
from chatbot.chat.sockets import (
    CLOSE_NOT_AUTHENTICATED,
    CLOSE_TRY_AGAIN_LATER,
    ChatSocket,
    SocketShared,
)

log = logging.getLogger(__name__)

SESSION_ENDED = "the session ended (the account's password changed): log in again"


class VisitorSocket(ChatSocket):
    """A visitor's socket: one conversation; a resume it cannot serve makes it reconnect."""

    __slots__ = ()

    def on_replay_failed(self) -> None:
        self.close(CLOSE_TRY_AGAIN_LATER, "the database is unavailable: reconnect later")


class OperatorSocket(ChatSocket):
    """An operator's socket: every conversation of the tenant's chatbots."""

    __slots__ = ("epoch", "tenant_id")

    def __init__(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        shared: SocketShared,
        *,
        tenant_id: str,
        epoch: int,
    ) -> None:
        super().__init__(request, ws, shared)
        self.tenant_id = tenant_id
        self.epoch = epoch  # the session epoch of the token that opened it

    def end_session(self, epoch: int) -> None:
        if self.epoch < epoch:
            self.close(CLOSE_NOT_AUTHENTICATED, SESSION_ENDED)

    async def _resync(self, since: datetime | None) -> None:
        # Conversations this socket never heard of during the outage are found by time.
        start = self.since if since is None else max(self.since, since - timedelta(seconds=10))
        try:
            missed = await self._shared.history.tenant_messages_since(self.tenant_id, start)
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
