"""The brain protocol: a request in, a streamed reply out, and a verdict on whether to hand off.

How the chat layer uses a brain:

    request = BrainRequest(chatbot_name=..., question=text, config=chatbot.brain,
                           history=window, knowledge=index)
    async with brains.reply(request) as reply:
        async for delta in reply:
            await send({"type": "bot_token", "delta": delta})
    store_bot_message(reply.text)
    if reply.handoff:
        set_status("waiting_for_human")

A reply never raises into the conversation: whatever goes wrong inside a brain ends in the
fallback message with `handoff` set. Brains that spend tokens report them in `reply.usage`;
`chatbot.spend.budget.budgeted_reply` starts a reply within the chatbot's token budget and
records that usage.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from chatbot.brains.usage import TokenUsage
from chatbot.vocabulary import Role

if TYPE_CHECKING:
    from chatbot.retrieval.index import KnowledgeIndex

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier message of the conversation, oldest first in a history."""

    role: Role
    text: str


@dataclass(frozen=True, slots=True)
class BrainRequest:
    """What a brain gets to answer one visitor message."""

    chatbot_name: str
    question: str
    config: Mapping[str, Any] = field(default_factory=dict)  # the chatbot's `brain`, as stored
    history: Sequence[Turn] = ()  # a bounded window before `question`, oldest first
    knowledge: KnowledgeIndex | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """How the brain judges its own answer, known once the stream has ended."""

    handoff: bool = False  # True: no good answer, the visitor is offered a person
    reason: str = "answered"
    confidence: float | None = None
    entry_id: str | None = None  # the knowledge entry answered from, if any


ANSWERED = Verdict()

# What a brain's generator yields: text deltas, at most one Verdict (the last one wins), and
# for brains that spend tokens their TokenUsage (the last one wins).
BrainEvent = str | Verdict | TokenUsage


class Brain(Protocol):
    """Anything that answers a visitor: echo, knowledge, OpenAI-compatible LLMs."""

    def reply(self, request: BrainRequest) -> BrainReply:
        """Start answering; the reply streams as it is iterated."""
        ...


class BrainReply:
    """An answer in progress: iterate it for text deltas, then read `text` and `handoff`.

    Use it as an async context manager (or call `aclose`) so that an abandoned reply, e.g. when
    the visitor leaves or an operator takes over mid-answer, releases its HTTP connection.
    """

    def __init__(self, events: AsyncIterator[BrainEvent], *, fallback_message: str) -> None:
        self._events = events
        self._fallback_message = fallback_message
        self._parts: list[str] = []
        self._pending: list[str] = []
        self._usage: TokenUsage | None = None
        self._ended = False
        self.verdict = ANSWERED
        self.finished = False
        # Awaited once when the reply ends, whole or abandoned (e.g. to record its usage).
        self.on_end: Callable[[BrainReply], Awaitable[None]] | None = None

    @property
    def text(self) -> str:
        """Everything streamed so far; the full answer once iteration has ended."""
        return "".join(self._parts)

    @property
    def handoff(self) -> bool:
        """Whether the conversation should wait for a human."""
        return self.verdict.handoff

    @property
    def usage(self) -> TokenUsage | None:
        """The tokens the answer cost; None for brains that spend none.

        A reply that stopped before its brain's final count (abandoned mid-answer) counts the
        prompt and an estimate of what it streamed.
        """
        usage = self._usage
        if usage is not None and usage.provisional:
            return usage.with_completion(self.text)
        return usage

    def __aiter__(self) -> BrainReply:
        return self

    async def __anext__(self) -> str:
        while not self._pending:
            if self.finished:
                await self._end()
                raise StopAsyncIteration
            try:
                event = await anext(self._events)
            except StopAsyncIteration:
                if not self.text.strip():
                    # An empty answer helps nobody: the visitor gets the fallback in any case.
                    empty = Verdict(handoff=True, reason="empty_answer")
                    self._fail(self.verdict if self.verdict.handoff else empty)
                self.finished = True
            except Exception:
                # The safety net: a bug or an unexpected error inside a brain must not reach
                # the conversation; the visitor gets the fallback and the operators a handoff.
                log.exception("brain failed while answering")
                self._fail(Verdict(handoff=True, reason="brain_error"))
                self.finished = True
            else:
                if isinstance(event, Verdict):
                    self.verdict = event
                elif isinstance(event, TokenUsage):
                    self._usage = event
                elif event:
                    self._pending.append(event)
        delta = self._pending.pop(0)
        self._parts.append(delta)
        return delta

    def _fail(self, verdict: Verdict) -> None:
        self.verdict = verdict
        self._pending.append(fallback_delta(self.text, self._fallback_message))

    async def collect(self) -> str:
        """Consume the whole reply and return its text (for callers that do not stream)."""
        async with self:
            async for _ in self:
                pass
        return self.text

    async def aclose(self) -> None:
        """Stop the brain early, releasing what it holds (a finished brain holds nothing)."""
        if not self.finished and isinstance(self._events, AsyncGenerator):
            await self._events.aclose()
        await self._end()

    async def _end(self) -> None:
        if self._ended:
            return
        self._ended = True
        if self.on_end is not None:
            try:
                await self.on_end(self)
            except Exception:
                log.exception("a brain reply's end hook failed")

    async def __aenter__(self) -> BrainReply:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


def fallback_delta(streamed: str, fallback_message: str) -> str:
    """The fallback as the next delta: alone, or as its own paragraph after a cut-off answer."""
    return f"\n\n{fallback_message}" if streamed.strip() else fallback_message


async def fallback_events(fallback_message: str, reason: str) -> AsyncIterator[BrainEvent]:
    """The stream of a brain that cannot answer at all: the fallback, with a handoff."""
    yield fallback_message
    yield Verdict(handoff=True, reason=reason)
