"""The room hub: the local sockets of each conversation and of each tenant's operators.

Publishing delivers to the local sockets at once, in order, each event encoded once. With a
Redis broker the event also goes to the other instances: events are gathered per tenant (the
chatbot's workspace) and published together, one Redis message per tenant per turn, by one publisher
task; an instance subscribes to a tenant's channel only while a local socket needs it. A message
event carries its conversation and seq so that each socket delivers messages in order and once.
Every instance also listens on the sessions channel, where a password change ends the account's
operator sockets everywhere, and on the channels other features `follow` (the hub is the
broker's one listener and hands them their messages).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Iterable, Iterator
from collections.abc import Set as AbstractSet
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from enum import IntFlag
from typing import Protocol, TypeVar

from chatbot.auth.session_events import SESSIONS_CHANNEL, parse_session_ended
from chatbot.backends.broker import Broker, BrokerListener, MemoryBroker

log = logging.getLogger(__name__)

_TAG_BYTES = 8
# Events waiting for Redis, all tenants together; beyond it the oldest are dropped (other
# instances then fill the gap from the database when the next message shows it).
MAX_PENDING_EVENTS = 20_000


class Audience(IntFlag):
    """Who gets an event: the conversation's visitor sockets, the tenant's operators, or both."""

    VISITORS = 1
    OPERATORS = 2
    EVERYONE = 3


_VISITORS, _OPERATORS, _EVERYONE = Audience.VISITORS, Audience.OPERATORS, Audience.EVERYONE


def tenant_channel(tenant_id: str) -> str:
    """The broker channel of a tenant's events, on every instance."""
    return f"chat:{tenant_id}"


# Built for every frame sent: not frozen, since a frozen dataclass's __init__ costs three times as
# much. Nothing changes one after it is built.
@dataclass(slots=True)
class Event:
    """An outbound frame, already encoded, about one conversation; messages carry their seq."""

    frame: bytes
    conversation_id: str
    seq: int | None = None


class Member(Protocol):
    """A local socket as the hub sees it; both calls run on the event loop and never block."""

    def deliver(self, event: Event) -> None: ...

    def resync(self, since: datetime | None = None) -> None: ...


class Operator(Member, Protocol):
    """An operator's socket: it also ends with its account's session."""

    user_id: str

    def end_session(self, epoch: int) -> None:
        """The account's sessions older than `epoch` have ended (its password changed)."""


MemberT = TypeVar("MemberT", bound=Member)


def encode_record(event: Event, audience: Audience) -> bytes:
    """One event on the wire: a header, then the frame (JSON never holds a raw newline)."""
    seq = b"-" if event.seq is None else str(event.seq).encode()
    return b"%d %s %s %s\n" % (int(audience), event.conversation_id.encode(), seq, event.frame)


def decode_records(data: bytes) -> Iterator[tuple[Event, Audience]]:
    """The events of a batch; malformed records are skipped."""
    for line in data.split(b"\n"):
        parts = line.split(b" ", 3)
        if len(parts) != 4 or not parts[0].isdigit():
            continue
        audience, conversation_id, seq, frame = parts
        if seq != b"-" and not seq.isdigit():
            continue
        yield (
            Event(frame, conversation_id.decode(), None if seq == b"-" else int(seq)),
            Audience(int(audience) & Audience.EVERYONE),
        )


class RoomHub:
    """Local sockets per conversation and per tenant, fed by local publishers and the broker."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        # With the in-process broker there is no other instance: nothing leaves the process.
        self._remote = not isinstance(broker, MemoryBroker)
        self._tag = os.urandom(_TAG_BYTES)
        self._conversations: dict[str, set[Member]] = {}
        self._operators: dict[str, set[Operator]] = {}
        self._accounts: dict[str, set[Operator]] = {}  # operator sockets by their user
        self._tenant_members: dict[str, int] = {}
        self._outbox: dict[str, list[bytes]] = {}
        self._pending = 0
        self._wakeup = asyncio.Event()
        self._publisher: asyncio.Task[None] | None = None
        self._followers: dict[str, BrokerListener] = {}
        broker.listen(self)

    async def follow(self, channel: str, listener: BrokerListener) -> None:
        """Hand `channel`'s messages on every instance, and broker reconnects, to `listener`."""
        self._followers[channel] = listener
        await self._broker.subscribe(channel)

    async def start(self) -> None:
        await self._broker.subscribe(SESSIONS_CHANNEL)
        if self._remote:
            self._publisher = asyncio.create_task(self._publish_loop(), name="chat-hub-publisher")

    async def close(self) -> None:
        if self._publisher is not None:
            self._publisher.cancel()
            with suppress(asyncio.CancelledError):
                await self._publisher

    def members(self) -> Iterator[Member]:
        """Every local socket (and bot answer watching its conversation), once."""
        seen: set[int] = set()
        rooms: list[AbstractSet[Member]] = [
            *self._conversations.values(),
            *self._operators.values(),
        ]
        for room in rooms:
            for member in list(room):
                if id(member) not in seen:
                    seen.add(id(member))
                    yield member

    def conversation_size(self, conversation_id: str) -> int:
        return len(self._conversations.get(conversation_id, ()))

    def conversation(
        self, tenant_id: str, conversation_id: str, member: Member
    ) -> AbstractAsyncContextManager[None]:
        """Membership of a conversation's room, left however the block ends."""
        return self._membership(self._conversations, conversation_id, tenant_id, member)

    def operators(self, tenant_id: str, member: Operator) -> AbstractAsyncContextManager[None]:
        """Membership of a tenant's operators' room, left however the block ends."""
        return self._membership(self._operators, tenant_id, tenant_id, member)

    @asynccontextmanager
    async def operator(self, member: Operator, tenant_ids: Iterable[str]) -> AsyncIterator[None]:
        """An operator socket in the rooms of its workspaces and among its account's sockets,
        left however the block ends."""
        self._accounts.setdefault(member.user_id, set()).add(member)
        try:
            async with AsyncExitStack() as stack:
                for tenant_id in tenant_ids:
                    await stack.enter_async_context(self.operators(tenant_id, member))
                yield
        finally:
            _discard(self._accounts, member.user_id, member)

    def operator_sockets(self, user_id: str) -> tuple[Operator, ...]:
        """The account's local operator sockets."""
        return tuple(self._accounts.get(user_id, ()))

    @asynccontextmanager
    async def _membership(
        self, rooms: dict[str, set[MemberT]], key: str, tenant_id: str, member: MemberT
    ) -> AsyncIterator[None]:
        rooms.setdefault(key, set()).add(member)
        try:
            await self._hold(tenant_id)  # counts at once: a cancelled subscribe is still released
            yield
        finally:
            if _discard(rooms, key, member):
                await self._release(tenant_id)

    def publish(self, event: Event, tenant_id: str, audience: Audience) -> None:
        """Deliver to the local sockets now, and queue the event for the other instances."""
        self._deliver(event, tenant_id, audience)
        if not self._remote:
            return
        self._outbox.setdefault(tenant_id, []).append(encode_record(event, audience))
        self._pending += 1
        if self._pending > MAX_PENDING_EVENTS:
            dropped = self._outbox.pop(next(iter(self._outbox)))
            self._pending -= len(dropped)
            log.warning("chat hub: Redis is not keeping up; %d events not sent", len(dropped))
        self._wakeup.set()

    def on_message(self, channel: str, payload: bytes) -> None:
        if channel == SESSIONS_CHANNEL:
            self._end_sessions(payload)
            return
        follower = self._followers.get(channel)
        if follower is not None:
            follower.on_message(channel, payload)
            return
        if payload[:_TAG_BYTES] == self._tag:
            return  # this instance's own batch: its sockets had the events at publish time
        tenant_id = channel.removeprefix("chat:")
        for event, audience in decode_records(payload[_TAG_BYTES:]):
            self._deliver(event, tenant_id, audience)

    def on_reconnect(self) -> None:
        """Events of other instances may have been lost: every local socket catches up."""
        for follower in self._followers.values():
            follower.on_reconnect()
        for member in self.members():
            member.resync()

    def _deliver(self, event: Event, tenant_id: str, audience: Audience) -> None:
        # Identity, not `&`: IntFlag operations build new members and cost more than delivery.
        if audience is _EVERYONE or audience is _VISITORS:
            room = self._conversations.get(event.conversation_id)
            if room:
                for member in tuple(room):
                    member.deliver(event)
        if audience is _EVERYONE or audience is _OPERATORS:
            operators = self._operators.get(tenant_id)
            if operators:
                for operator in tuple(operators):
                    operator.deliver(event)

    def _end_sessions(self, payload: bytes) -> None:
        ended = parse_session_ended(payload)
        if ended is None:
            return
        user_id, epoch = ended
        for member in self.operator_sockets(user_id):
            member.end_session(epoch)

    async def _hold(self, tenant_id: str) -> None:
        count = self._tenant_members.get(tenant_id, 0)
        self._tenant_members[tenant_id] = count + 1
        if count == 0 and self._remote:
            await self._broker.subscribe(tenant_channel(tenant_id))

    async def _release(self, tenant_id: str) -> None:
        count = self._tenant_members.get(tenant_id, 0) - 1
        if count > 0:
            self._tenant_members[tenant_id] = count
            return
        self._tenant_members.pop(tenant_id, None)
        if self._remote:
            await self._broker.unsubscribe(tenant_channel(tenant_id))

    async def _publish_loop(self) -> None:
        # One publisher: a tenant's batches reach Redis in the order they were made, and
        # events published while a batch is in flight go out together in the next one.
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._outbox:
                tenant_id = next(iter(self._outbox))
                records = self._outbox.pop(tenant_id)
                self._pending -= len(records)
                try:
                    await self._broker.publish(
                        tenant_channel(tenant_id), self._tag + b"".join(records)
                    )
                except Exception:  # the broker logs and recovers by itself
                    log.exception("chat hub: publishing %d events failed", len(records))


def _discard(rooms: dict[str, set[MemberT]], key: str, member: MemberT) -> bool:
    room = rooms.get(key)
    if room is None or member not in room:
        return False
    room.discard(member)
    if not room:
        del rooms[key]
    return True
