"""The room hub: the local sockets of each conversation and of each tenant's operators.

Publishing delivers to the local sockets at once, in order, each event encoded once. With a
Redis broker the event also goes to the other instances: events are gathered per tenant (the
chatbot's workspace) and published together, one Redis message per tenant per turn, by one publisher
task; an instance subscribes to a tenant's channel only while a local socket needs it. A message
event carries its conversation and seq so that each socket delivers messages in order and once.
Every instance also listens on the sessions channel, where a password change ends the account's
operator sockets everywhere; on the erased channel, where erased conversations are forgotten;
and on the membership channel, where a removal takes a member's sockets out of the workspace's
room (and a new membership puts them in) on every instance.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from enum import IntFlag
from typing import Any, Protocol, TypeVar

from chatbot.auth.session_events import SESSIONS_CHANNEL, parse_session_ended
from chatbot.backends.broker import Broker, MemoryBroker
from chatbot.chat.erasures import ERASED_CHANNEL, erased_payload, parse_erased
from chatbot.workspaces.events import MEMBERSHIP_CHANNEL, parse_membership_changed

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


_TENANT_PREFIX = "chat:"


def tenant_channel(tenant_id: str) -> str:
    """The broker channel of a tenant's events, on every instance."""
    return _TENANT_PREFIX + tenant_id


# Built for every frame sent: not frozen, since a frozen dataclass's __init__ sets each field
# through object.__setattr__, a much slower call. Nothing changes one after it is built.
@dataclass(slots=True)
class Event:
    """An outbound frame, already encoded, about one conversation; messages carry their seq.

    An event about a member rather than a conversation (their presence) names them in
    `not_to`: their own sockets skip it."""

    frame: bytes
    conversation_id: str
    seq: int | None = None
    not_to: str | None = None


class Member(Protocol):
    """A local socket as the hub sees it; both calls run on the event loop and never block."""

    def deliver(self, event: Event) -> None: ...

    def resync(self, since: datetime | None = None) -> None: ...

    def forget(self, conversation_id: str) -> None:
        """The conversation was erased: a visitor's socket closes, others drop what they keep."""


class Operator(Member, Protocol):
    """An operator's socket: it also ends with its account's session."""

    user_id: str
    workspace_ids: set[str]  # the tenants whose rooms it is in, kept by the hub

    def end_session(self, epoch: int) -> None:
        """The account's sessions older than `epoch` have ended (its password changed)."""


MemberT = TypeVar("MemberT", bound=Member)


_MEMBER_MARK = b"~"  # in a record's conversation field: the event is about this member


def encode_record(event: Event, audience: Audience) -> bytes:
    """One event on the wire: a header, then the frame (JSON never holds a raw newline)."""
    seq = b"-" if event.seq is None else str(event.seq).encode()
    about = event.conversation_id.encode()
    if event.not_to is not None:
        about = _MEMBER_MARK + event.not_to.encode()
    return b"%d %s %s %s\n" % (int(audience), about, seq, event.frame)


def decode_records(data: bytes) -> Iterator[tuple[Event, Audience]]:
    """The events of a batch; malformed records are skipped."""
    for line in data.split(b"\n"):
        parts = line.split(b" ", 3)
        if len(parts) != 4 or not parts[0].isdigit():
            continue
        audience, conversation_id, seq, frame = parts
        if seq != b"-" and not seq.isdigit():
            continue
        event = Event(frame, conversation_id.decode(), None if seq == b"-" else int(seq))
        if conversation_id.startswith(_MEMBER_MARK):
            event.conversation_id, event.not_to = "", conversation_id[1:].decode()
        yield event, Audience(int(audience) & Audience.EVERYONE)


class RoomHub:
    """Local sockets per conversation and per tenant, fed by local publishers and the broker."""

    def __init__(
        self, broker: Broker, on_erased: Callable[[Sequence[str]], None] | None = None
    ) -> None:
        self._broker = broker
        self._on_erased = on_erased
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
        self._tasks: set[asyncio.Task[None]] = set()
        self._membership_listeners: list[Callable[[str, str, str | None], None]] = []
        broker.listen(self)

    async def start(self) -> None:
        await self._broker.subscribe(SESSIONS_CHANNEL)
        await self._broker.subscribe(ERASED_CHANNEL)
        await self._broker.subscribe(MEMBERSHIP_CHANNEL)
        if self._remote:
            self._publisher = asyncio.create_task(self._publish_loop(), name="chat-hub-publisher")

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
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
        left however the block ends. A membership change on the broker moves it between
        rooms meanwhile (`member.workspace_ids` follows)."""
        self._accounts.setdefault(member.user_id, set()).add(member)
        try:
            for tenant_id in tenant_ids:
                if self._enter(member, tenant_id):
                    await self._hold(tenant_id)  # counted at once: released below if cancelled
            yield
        finally:
            _discard(self._accounts, member.user_id, member)
            for tenant_id in list(member.workspace_ids):
                if self._exit(member, tenant_id):
                    await self._release(tenant_id)

    def _enter(self, member: Operator, tenant_id: str) -> bool:
        """Put the socket in the tenant's operators' room now; False if it was there."""
        if tenant_id in member.workspace_ids:
            return False
        member.workspace_ids.add(tenant_id)
        self._operators.setdefault(tenant_id, set()).add(member)
        return True

    def _exit(self, member: Operator, tenant_id: str) -> bool:
        """Take the socket out of the tenant's operators' room now; False if it was not in."""
        if tenant_id not in member.workspace_ids:
            return False
        member.workspace_ids.discard(tenant_id)
        return _discard(self._operators, tenant_id, member)

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

    async def erase(self, tenant_id: str, conversation_ids: Sequence[str]) -> None:
        """Forget these conversations of the tenant here now, and on the other instances."""
        if not conversation_ids:
            return
        self._forget(tenant_id, conversation_ids)
        payload = self._tag + erased_payload(tenant_id, conversation_ids)
        try:
            await self._broker.publish(ERASED_CHANNEL, payload)
        except Exception:  # their sockets still find the rows gone at their next write
            log.exception("chat hub: telling other instances of an erasure failed")

    def on_message(self, channel: str, payload: bytes) -> None:
        if channel == SESSIONS_CHANNEL:
            self._end_sessions(payload)
            return
        if channel == MEMBERSHIP_CHANNEL:
            self._follow_membership(payload)
            return
        if channel != ERASED_CHANNEL and not channel.startswith(_TENANT_PREFIX):
            return  # another feature's channel
        if payload[:_TAG_BYTES] == self._tag:
            return  # this instance's own batch: its sockets had the events at publish time
        if channel == ERASED_CHANNEL:
            erased = parse_erased(payload[_TAG_BYTES:])
            if erased is not None:
                self._forget(*erased)
            return
        tenant_id = channel.removeprefix(_TENANT_PREFIX)
        for event, audience in decode_records(payload[_TAG_BYTES:]):
            self._deliver(event, tenant_id, audience)

    def on_reconnect(self) -> None:
        """Events of other instances may have been lost: every local socket catches up."""
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

    def _forget(self, tenant_id: str, conversation_ids: Sequence[str]) -> None:
        for conversation_id in conversation_ids:
            for member in tuple(self._conversations.get(conversation_id, ())):
                member.forget(conversation_id)
            for operator in tuple(self._operators.get(tenant_id, ())):
                operator.forget(conversation_id)
        if self._on_erased is not None:
            self._on_erased(conversation_ids)

    def _follow_membership(self, payload: bytes) -> None:
        """A member's role changed or ended: their sockets here join or leave the workspace's
        room at once (no event of it is delivered to them after this call)."""
        changed = parse_membership_changed(payload)
        if changed is None:
            return
        tenant_id, user_id, role = changed
        channel = tenant_channel(tenant_id)
        for member in self.operator_sockets(user_id):
            if role is None:
                if self._exit(member, tenant_id) and self._count_out(tenant_id):
                    self._background(self._broker.unsubscribe(channel))
            elif self._enter(member, tenant_id) and self._count_in(tenant_id):
                self._background(self._broker.subscribe(channel))
        for listener in self._membership_listeners:
            listener(tenant_id, user_id, role)

    def on_membership(self, listener: Callable[[str, str, str | None], None]) -> None:
        """Also call `listener(workspace, user, role or None)` on each membership change."""
        self._membership_listeners.append(listener)

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name="chat-hub-subscription")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _end_sessions(self, payload: bytes) -> None:
        ended = parse_session_ended(payload)
        if ended is None:
            return
        user_id, epoch = ended
        for member in self.operator_sockets(user_id):
            member.end_session(epoch)

    async def _hold(self, tenant_id: str) -> None:
        if self._count_in(tenant_id):
            await self._broker.subscribe(tenant_channel(tenant_id))

    async def _release(self, tenant_id: str) -> None:
        if self._count_out(tenant_id):
            await self._broker.unsubscribe(tenant_channel(tenant_id))

    def _count_in(self, tenant_id: str) -> bool:
        """One more local member of the tenant; True when its channel is to be subscribed."""
        count = self._tenant_members.get(tenant_id, 0)
        self._tenant_members[tenant_id] = count + 1
        return count == 0 and self._remote

    def _count_out(self, tenant_id: str) -> bool:
        """One local member fewer; True when the tenant's channel is to be unsubscribed."""
        count = self._tenant_members.get(tenant_id, 0) - 1
        if count > 0:
            self._tenant_members[tenant_id] = count
            return False
        self._tenant_members.pop(tenant_id, None)
        return self._remote

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
