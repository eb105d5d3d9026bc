"""Which webhooks each workspace has, per event type: cached per instance for the chat's writes.

A message write asks here whether its workspace has webhooks; without any it carries nothing
and its transaction writes no event, so the chat pays nothing for the feature it does not use.
Entries are dropped through the broker's `webhooks` channel whenever a workspace's webhooks
change (on every instance), and all of them when the broker reconnects (a drop may have been
missed). A change is seen by the other instances' writes within the broker's delivery time.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.backends.broker import Broker
from chatbot.storage.schema import webhooks
from chatbot.webhooks.events import EVENT_TYPES, Hooks

SUBSCRIPTIONS_CHANNEL = "webhooks"
MAX_WORKSPACES = 10_000


async def announce_change(broker: Broker, workspace_id: str) -> None:
    """Tell every instance (this one included) that the workspace's webhooks changed."""
    await broker.publish(SUBSCRIPTIONS_CHANNEL, workspace_id.encode())


async def load_hooks(engine: AsyncEngine, workspace_id: str) -> Hooks | None:
    """The workspace's enabled webhooks per event type, or None when it has none."""
    w = webhooks.c
    query = (
        select(w.id, w.events)
        .where(w.workspace_id == workspace_id, w.disabled_at.is_(None))
        .order_by(w.created_at, w.id)
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    targets = {
        event: ids
        for event in EVENT_TYPES
        if (ids := tuple(row.id for row in rows if event in (row.events or ())))
    }
    return Hooks(workspace_id, targets) if targets else None


class Subscriptions:
    """The per-instance cache of `load_hooks`, and the signal that events were written."""

    def __init__(self, engine: AsyncEngine, max_entries: int = MAX_WORKSPACES) -> None:
        self._engine = engine
        self._entries: OrderedDict[str, Hooks | None] = OrderedDict()
        self._max_entries = max_entries
        self._generation = 0  # bumped by every drop: a load that raced one is not kept
        # Called once events were committed here, so that they are sent at once.
        self.on_written: Callable[[], None] | None = None

    async def hooks(self, workspace_id: str) -> Hooks | None:
        """The workspace's webhooks per event type, or None when it has none."""
        entries = self._entries
        try:
            hooks = entries[workspace_id]
        except KeyError:
            pass
        else:
            entries.move_to_end(workspace_id)
            return hooks
        generation = self._generation
        hooks = await load_hooks(self._engine, workspace_id)
        if generation == self._generation:
            entries[workspace_id] = hooks
            if len(entries) > self._max_entries:
                entries.popitem(last=False)
        return hooks

    def written(self) -> None:
        if self.on_written is not None:
            self.on_written()

    def forget(self, workspace_id: str | None = None) -> None:
        """Drop one workspace's entry (every entry with None)."""
        self._generation += 1
        if workspace_id is None:
            self._entries.clear()
        else:
            self._entries.pop(workspace_id, None)

    # The broker's listener (every listener gets every channel: this one minds its own).
    def on_message(self, channel: str, payload: bytes) -> None:
        if channel == SUBSCRIPTIONS_CHANNEL:
            self.forget(payload.decode(errors="replace"))

    def on_reconnect(self) -> None:
        self.forget()


WEBHOOKS = web.AppKey("webhooks", Subscriptions)
