"""A cap on the chat sockets open at once per client address, on this instance."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from chatbot.errors import RateLimited

# Sockets close at any moment; a client refused for the cap may soon have room again.
RETRY_AFTER_SECONDS = 10


class SocketCap:
    """Counts the open sockets (of both kinds) per address; a slot is held while one is open."""

    __slots__ = ("_limit", "_open")

    def __init__(self, limit: int | None) -> None:
        self._limit = limit  # None: counted, never refused
        self._open: dict[str, int] = {}

    @contextmanager
    def hold(self, address: str) -> Iterator[None]:
        """A slot for one socket of `address` for the block, or RateLimited (429) when full."""
        count = self._open.get(address, 0)
        if self._limit is not None and count >= self._limit:
            raise RateLimited(
                f"{address} already has {count} chat sockets open, the most allowed "
                "(chat.max_sockets_per_address): close some, or retry in a few seconds",
                code="too_many_sockets",
                retry_after=RETRY_AFTER_SECONDS,
            )
        self._open[address] = count + 1
        try:
            yield
        finally:
            left = self._open[address] - 1
            if left:
                self._open[address] = left
            else:
                del self._open[address]

    def open_for(self, address: str) -> int:
        """How many sockets `address` holds now."""
        return self._open.get(address, 0)
