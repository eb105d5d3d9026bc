"""The echo brain: answers with the visitor's own text, for tests and benchmarks."""

from __future__ import annotations

from collections.abc import AsyncIterator

from chatbot.brains.base import ANSWERED, BrainEvent, BrainReply, BrainRequest


class EchoBrain:
    """Replies with the question itself, in one delta, and never hands off."""

    def __init__(self, *, fallback_message: str) -> None:
        self._fallback_message = fallback_message

    def reply(self, request: BrainRequest) -> BrainReply:
        return BrainReply(self._events(request), fallback_message=self._fallback_message)

    async def _events(self, request: BrainRequest) -> AsyncIterator[BrainEvent]:
        yield request.question
        yield ANSWERED
