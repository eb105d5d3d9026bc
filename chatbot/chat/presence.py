"""Presence: members are told when a member's first operator socket opens and their last closes.

This instance counts its own sockets per user and reports each user's transitions to the
presence store (shared by every instance with Redis), which says whether the user as a whole
came online or went offline; only then are the workspaces' members told, with a `presence`
event on the hub. One task per user reports their transitions in order; a heartbeat keeps this
instance's entries alive, retries what failed, and sweeps the users of instances that died.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress

from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.backends.presence import PresenceStore
from chatbot.chat.hub import Audience, Event, RoomHub
from chatbot.chat.protocol import presence_frame
from chatbot.workspaces.repository import memberships

log = logging.getLogger(__name__)

_CLOSE_SECONDS = 3.0


class Presence:
    """This instance's operator sockets per user, and what the other members are told."""

    def __init__(
        self, store: PresenceStore, hub: RoomHub, engine: AsyncEngine, ttl_seconds: float
    ) -> None:
        self._store = store
        self._hub = hub
        self._engine = engine
        self._interval = max(0.2, ttl_seconds / 3)
        self._local: dict[str, int] = {}  # user id -> open operator sockets here
        self._reported: set[str] = set()  # users the store holds online for this instance
        self._reporting: dict[str, asyncio.Task[None]] = {}
        self._heartbeat: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._heartbeat = asyncio.create_task(self._beat(), name="chat-presence-heartbeat")

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with suppress(asyncio.CancelledError):
                await self._heartbeat
        # Sockets closed at shutdown report their users offline now, not after the TTL.
        pending = list(self._reporting.values())
        if pending:
            await asyncio.wait(pending, timeout=_CLOSE_SECONDS)
        for task in pending:
            task.cancel()

    @asynccontextmanager
    async def present(self, user_id: str) -> AsyncIterator[None]:
        """The user has one more operator socket here for the block."""
        self._local[user_id] = self._local.get(user_id, 0) + 1
        self._report_soon(user_id)
        try:
            yield
        finally:
            left = self._local[user_id] - 1
            if left:
                self._local[user_id] = left
            else:
                del self._local[user_id]
            self._report_soon(user_id)

    async def online(self, user_ids: Sequence[str]) -> set[str]:
        """Which of these users have an operator socket open on any instance."""
        return await self._store.online(user_ids)

    def _report_soon(self, user_id: str) -> None:
        if user_id not in self._reporting and (user_id in self._local) != (
            user_id in self._reported
        ):
            task = asyncio.create_task(self._report(user_id), name="chat-presence-report")
            self._reporting[user_id] = task

    async def _report(self, user_id: str) -> None:
        try:
            while (here := user_id in self._local) != (user_id in self._reported):
                if here:
                    changed = await self._store.arrive(user_id)
                    self._reported.add(user_id)
                else:
                    changed = await self._store.leave(user_id)
                    self._reported.discard(user_id)
                if changed:
                    await self._announce(user_id, online=here)
        except Exception as exc:  # the heartbeat tries again
            log.warning("presence: could not report %s (%s)", user_id, exc)
        finally:
            del self._reporting[user_id]

    async def _announce(self, user_id: str, *, online: bool) -> None:
        """Tell the members of every workspace of the user (but the user)."""
        event = Event(presence_frame(user_id, online), "", not_to=user_id)
        for membership in await memberships(self._engine, user_id):
            self._hub.publish(event, membership.workspace_id, Audience.OPERATORS)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._beat_once()
            except Exception as exc:
                log.warning("presence: heartbeat failed (%s)", exc)

    async def _beat_once(self) -> None:
        for user_id in list(self._local) + list(self._reported):
            self._report_soon(user_id)  # what failed before
        steady = [u for u in self._reported if u in self._local and u not in self._reporting]
        for user_id in await self._store.refresh(steady):
            await self._announce(user_id, online=True)  # a sweep took them while we stalled
        for user_id in await self._store.sweep():
            await self._announce(user_id, online=False)
