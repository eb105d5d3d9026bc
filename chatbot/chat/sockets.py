"""The outbound side of one chat WebSocket: a bounded queue and one writer task.

Frames leave in the order they were given: at once while nothing waits, the client keeps up and
the socket's `FrameWriter` can write without waiting, through the queue and its writer task
otherwise. Message events are delivered in seq order and exactly once per conversation: an
older or repeated seq is skipped, a gap is filled from the database first. A client that stops
reading fills its queue and is disconnected with 4008, without slowing anyone else.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from chatbot.chat.frame_writer import FrameWriter, OpenWriter
from chatbot.chat.history import ChatHistory
from chatbot.chat.hub import Event
from chatbot.chat.protocol import error_frame, message_frame, resumed_frame
from chatbot.storage.values import utcnow

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_NOT_AUTHENTICATED = 4001
CLOSE_CONVERSATION_GONE = 4004
CLOSE_TOO_SLOW = 4008
TOO_SLOW = "too slow: the client stopped reading"
_MAX_TRACKED_CONVERSATIONS = 10_000


@dataclass(frozen=True, slots=True)
class _Replay:
    conversation_id: str
    after: int
    tagged: bool  # the `resumed` frame names the conversation (operator sockets)


@dataclass(frozen=True, slots=True)
class _Resync:
    since: datetime | None


_Item = bytes | Event | _Replay | _Resync


@dataclass(frozen=True, slots=True)
class SocketShared:
    """What every chat socket of the process shares, built once by the chat service."""

    queue_size: int  # frames a socket may have waiting before it is closed with 4008
    stall_timeout: float  # seconds a write, or the close handshake, may wait for the client
    history: ChatHistory
    open_writer: OpenWriter  # the `chat.frame_writer` setting's
    on_message_sent: Callable[[], object] | None = None


class ChatSocket:
    """A WebSocket's outbound queue and writer; `deliver` and `send` never block."""

    # Thousands stay open at once: no per-instance dict, no queue or task while idle.
    __slots__ = (
        "_closer",
        "_frames",
        "_held",
        "_queue",
        "_sent",
        "_shared",
        "_writer",
        "_writing",
        "since",
        "ws",
    )

    def __init__(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        shared: SocketShared,
    ) -> None:
        self.ws = ws
        self._shared = shared
        self._frames = shared.open_writer(request, ws)
        self._queue: deque[_Item] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._writing = False  # the writer task has begun: frames queued since wait on the client
        self._held: list[_Item] | None = None
        self._closer: asyncio.Task[None] | None = None
        # The last seq sent per conversation; insertion order doubles as recency for eviction.
        self._sent: dict[str, int] = {}
        self.since = utcnow()

    @property
    def frame_writer(self) -> FrameWriter:
        """How this socket's frames reach the wire (the `chat.frame_writer` setting)."""
        return self._frames

    @property
    def closing(self) -> bool:
        return self._closer is not None or self.ws.closed

    def mark_sent(self, conversation_id: str, seq: int) -> None:
        """Record that the client holds every message of the conversation up to `seq`."""
        self._sent.pop(conversation_id, None)
        self._sent[conversation_id] = seq
        if len(self._sent) > _MAX_TRACKED_CONVERSATIONS:
            del self._sent[next(iter(self._sent))]

    def send(self, frame: bytes) -> None:
        """Queue one encoded frame."""
        self._put(frame)

    def deliver(self, event: Event) -> None:
        self._put(event)

    def replay(self, conversation_id: str, after: int, *, tagged: bool = False) -> None:
        """Queue a replay of the stored messages after `after`, then a `resumed` frame."""
        self._put(_Replay(conversation_id, after, tagged))

    def resync(self, since: datetime | None = None) -> None:
        self._put(_Resync(since))

    def forget(self, conversation_id: str) -> None:
        self._sent.pop(conversation_id, None)

    def hold(self) -> None:
        """Keep what the room delivers until `release`; frames `send` queues still go out.

        A visitor's socket joins its conversation's room before it reads the welcome's
        `last_seq`, so that no message slips in between; held, nothing of the room comes
        before the welcome.
        """
        self._held = []

    def release(self) -> None:
        """Deliver, in order, what the room delivered while the socket was held."""
        held, self._held = self._held, None
        for item in held or ():
            self._put(item)

    def close(self, code: int, reason: str) -> None:
        """Start closing (once): frames sent before it (an error saying why, say) go first, then
        the close frame; queued events are dropped, and so is everything for a client too slow
        to read."""
        if self._closer is not None:
            return
        self._frames.flush()  # what was sent before the close goes before the close frame
        queued, self._queue = self._queue, None
        before = () if not queued or code == CLOSE_TOO_SLOW else _frames_of(queued)
        if self._writer is not None:
            self._writer.cancel()
        self._closer = asyncio.create_task(
            self._frames.close(code, reason, self._shared.stall_timeout, before),
            name="chat-socket-close",
        )

    async def wait_closed(self) -> None:
        """Wait for the writer and a close in progress to finish."""
        for task in (self._writer, self._closer):
            if task is not None:
                with suppress(asyncio.CancelledError):
                    await task

    def _put(self, item: _Item) -> None:
        if self._closer is not None:
            return
        if self._held is not None and not isinstance(item, bytes):
            if len(self._held) < self._shared.queue_size:  # bounded like the queue
                self._held.append(item)
            else:
                self.close(CLOSE_TOO_SLOW, TOO_SLOW)
            return
        if self._queue is None and self._writer is None and self._write_now(item):
            return
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        elif self._writing and len(queue) >= self._shared.queue_size:
            # Frames of one turn that the writer has not begun to send are no sign of a slow
            # client (a batch of stored messages reaches an operator in one turn): only a queue
            # that fills while the writer runs, and so waits, is.
            log.info(
                "chat socket: client stopped reading (%d frames queued): closing with 4008",
                len(queue),
            )
            self.close(CLOSE_TOO_SLOW, TOO_SLOW)
            return
        queue.append(item)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(), name="chat-socket-writer")

    def _write_now(self, item: _Item) -> bool:
        """Send an in-order frame at once when nothing waits and the writer can.

        With the `direct` writer most frames go out this way, without a task.
        """
        if isinstance(item, Event):
            frame, conversation_id, seq = item.frame, item.conversation_id, item.seq
        elif isinstance(item, bytes):
            frame, conversation_id, seq = item, None, None
        else:
            return False
        if conversation_id is not None and seq is not None:
            last = self._sent.get(conversation_id)
            if last is not None and seq != last + 1:
                return seq <= last  # already sent: done; a gap: the writer fills it first
        if not self._frames.write_now(frame):
            return False
        if conversation_id is not None and seq is not None:
            self.mark_sent(conversation_id, seq)
            if self._shared.on_message_sent is not None:
                self._shared.on_message_sent()
        return True

    async def _write(self) -> None:
        self._frames.flush()  # frames written directly before the queue began go first
        self._writing = True
        try:
            while self._queue:
                item = self._queue.popleft()
                if isinstance(item, bytes):
                    await self._send(item)
                elif isinstance(item, Event):
                    await self._send_event(item)
                elif isinstance(item, _Replay):
                    await self._replay(item)
                else:
                    await self._resync(item.since)
        except (ConnectionError, RuntimeError):
            pass  # the connection is gone; the receive loop sees it and cleans up
        finally:
            self._writer = None
            self._writing = False
            if not self._queue:
                self._queue = None  # an empty deque still holds a 600-byte block

    async def _send(self, frame: bytes) -> None:
        # Only frames that queued up get here (most are written directly): a client that does
        # not take one in time has stopped reading.
        try:
            async with asyncio.timeout(self._shared.stall_timeout):
                await self._frames.send(frame)
        except TimeoutError:
            log.info("chat socket: a write waited too long for the client: closing with 4008")
            self.close(CLOSE_TOO_SLOW, TOO_SLOW)
            raise ConnectionError("the client stopped reading") from None

    async def _send_message(self, frame: bytes) -> None:
        await self._send(frame)
        if self._shared.on_message_sent is not None:
            self._shared.on_message_sent()

    async def _send_event(self, event: Event) -> None:
        conversation_id, seq = event.conversation_id, event.seq
        if seq is not None:
            last = self._sent.get(conversation_id)
            if last is not None:
                if seq <= last:
                    return
                if seq > last + 1:
                    await self._fill(conversation_id, last, seq - 1)
            self.mark_sent(conversation_id, seq)
            await self._send_message(event.frame)
            return
        await self._send(event.frame)

    async def _fill(self, conversation_id: str, after: int, upto: int | None) -> None:
        """Send the stored messages after `after` (up to `upto`) that this socket missed."""
        while upto is None or after < upto:
            try:
                page = await self._shared.history.page(conversation_id, after, upto)
            except Exception as exc:
                log.warning("chat socket: could not read missed messages (%s)", exc)
                return
            for message in page:
                await self._send_message(message_frame(message.as_json()))
                after = message.seq
                self.mark_sent(conversation_id, after)
            if not page:
                return

    async def _replay(self, item: _Replay) -> None:
        try:
            last = await self._shared.history.last_seq(item.conversation_id)
        except Exception as exc:
            log.warning("chat socket: resume failed, database unavailable (%s)", exc)
            await self._send(
                error_frame("unavailable", "cannot resume now: the database is unavailable")
            )
            self.on_replay_failed()
            return
        if last is None:
            self.close(CLOSE_CONVERSATION_GONE, "the conversation no longer exists")
            return
        after = item.after
        while after < last:
            try:
                page = await self._shared.history.page(item.conversation_id, after, last)
            except Exception as exc:
                log.warning("chat socket: resume failed, database unavailable (%s)", exc)
                self.on_replay_failed()
                return
            if not page:
                break
            for message in page:
                await self._send_message(message_frame(message.as_json()))
            after = page[-1].seq
        self.mark_sent(item.conversation_id, max(self._sent.get(item.conversation_id, 0), last))
        await self._send(resumed_frame(last, item.conversation_id if item.tagged else None))

    def on_replay_failed(self) -> None:
        """What to do when a resume cannot be served; operators just get the error."""

    async def _resync(self, since: datetime | None) -> None:
        for conversation_id, last in list(self._sent.items()):
            await self._fill(conversation_id, last, None)


def _frames_of(queued: deque[_Item]) -> tuple[bytes, ...]:
    """The plain frames of a queue (events and replays are not worth a closing socket's wait)."""
    return tuple(item for item in queued if isinstance(item, bytes))
