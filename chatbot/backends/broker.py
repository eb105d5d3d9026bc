"""Pub/sub broker protocol and the in-process implementation.

`publish` reaches every subscriber of the channel on every instance, the local ones at once.
"""

from __future__ import annotations

from typing import Protocol


class BrokerListener(Protocol):
    """What the broker calls back; both calls run on the event loop and must not block.

    Every listener gets the messages of every subscribed channel and keeps the ones it knows.
    """

    def on_message(self, channel: str, payload: bytes) -> None: ...

    def on_reconnect(self) -> None:
        """Cross-instance delivery was interrupted and is back: peers may have missed events."""


class Broker(Protocol):
    @property
    def healthy(self) -> bool: ...

    def listen(self, listener: BrokerListener) -> None:
        """Add a listener (each feature that needs the broker's messages registers one)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, channel: str, payload: bytes) -> None: ...

    async def subscribe(self, channel: str) -> None: ...

    async def unsubscribe(self, channel: str) -> None: ...


class MemoryBroker:
    """Single-instance broker: delivery is a direct call to the listener."""

    def __init__(self) -> None:
        self._listeners: list[BrokerListener] = []
        self._channels: set[str] = set()

    @property
    def healthy(self) -> bool:
        return True

    def listen(self, listener: BrokerListener) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._channels.clear()

    async def publish(self, channel: str, payload: bytes) -> None:
        if channel in self._channels:
            for listener in self._listeners:
                listener.on_message(channel, payload)

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
