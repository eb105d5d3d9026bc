"""Bot answers: run as tasks beside the sockets, streamed to the visitor and the operators.

Per conversation, answers run one after another in the order of the visitor's messages. An
answer stops as soon as the conversation leaves the `bot` status, on any instance: while it
runs, the answer listens to its conversation's channel for status events.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web
from pydantic import ValidationError

from chatbot import keys
from chatbot.brains.base import Brain, BrainRequest, Turn
from chatbot.brains.factory import Brains, brain_type
from chatbot.brains.schemas import parse_brain_config
from chatbot.chat.hub import Audience, Event
from chatbot.chat.protocol import bot_token_frame, typing_frame
from chatbot.chat.store import StoreUnavailable, Write
from chatbot.chatbots.lookup import chatbot_by_id
from chatbot.chatbots.repository import ChatbotRecord
from chatbot.conversations.message import MessageView
from chatbot.knowledge.index import knowledge_index
from chatbot.metrics import metrics_of
from chatbot.spend.budget import budgeted_reply

if TYPE_CHECKING:
    from chatbot.chat.service import ChatService

log = logging.getLogger(__name__)

# Messages waiting for an answer in one conversation; the visitor's rate limit keeps this
# short, the bound keeps it so whatever the limit.
MAX_WAITING = 64
# A chatbot's settings are read again after this long: edits reach answers within seconds.
PROFILE_TTL_SECONDS = 5.0
MAX_PROFILES = 1000
_STATUS_PREFIX = b'{"type":"status"'


@dataclass(slots=True)  # one per visitor message: not frozen, whose __init__ is much slower
class _Question:
    chatbot_id: str
    tenant_id: str
    message: MessageView


class _StatusWatch:
    """A hub member for the length of one answer: cancels it when the status leaves `bot`."""

    def __init__(self, task: asyncio.Task[None]) -> None:
        self._task = task

    def deliver(self, event: Event) -> None:
        if event.seq is not None or not event.frame.startswith(_STATUS_PREFIX):
            return
        with suppress(ValueError):
            if json.loads(event.frame).get("status") != "bot":
                self._task.cancel()

    def resync(self, since: object = None) -> None:
        return None

    def forget(self, conversation_id: str) -> None:
        self._task.cancel()


class BotRunner:
    """Answers visitor messages with the chatbot's brain."""

    def __init__(self, chat: ChatService) -> None:
        self._chat = chat
        settings = chat.app[keys.SETTINGS]
        self.brains = Brains.from_settings(
            settings.brains,
            http=chat.app[keys.HTTP_CLIENT],
            history_turns=settings.chat.history_window,
        )
        self._history_window = settings.chat.history_window
        self._waiting: dict[str, deque[_Question]] = {}
        self._profiles: dict[str, tuple[float, ChatbotRecord, Brain | None]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._closed = False

    def answer(self, chatbot_id: str, tenant_id: str, message: MessageView) -> None:
        """Queue an answer to the visitor's stored `message`."""
        if self._closed:
            return
        conversation_id = message.conversation_id
        waiting = self._waiting.setdefault(conversation_id, deque())
        if len(waiting) >= MAX_WAITING:
            log.warning(
                "bot: %d questions waiting in %s; skipping one", len(waiting), conversation_id
            )
            return
        waiting.append(_Question(chatbot_id, tenant_id, message))
        if conversation_id not in self._tasks:
            self._tasks[conversation_id] = asyncio.create_task(
                self._drain(conversation_id), name="chat-bot-answer"
            )

    def cancel(self, conversation_id: str) -> None:
        """Stop answering in the conversation (an operator took over, or it was closed)."""
        self._waiting.pop(conversation_id, None)
        task = self._tasks.get(conversation_id)
        # The answer itself hands off at its end: it must finish announcing that.
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def forget(self, conversation_ids: Sequence[str]) -> None:
        """Erased conversations: drop their waiting questions and stop their answers."""
        for conversation_id in conversation_ids:
            self.cancel(conversation_id)

    async def finish(self, timeout: float) -> None:
        """Let the answers in progress end (within `timeout`); start no new ones."""
        self._closed = True
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def close(self) -> None:
        self._closed = True
        tasks = list(self._tasks.values())
        self._waiting.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task

    async def _drain(self, conversation_id: str) -> None:
        try:
            waiting = self._waiting.get(conversation_id)
            while waiting:
                question = waiting.popleft()
                try:
                    await self._answer(question)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("bot: answering in conversation %s failed", conversation_id)
                waiting = self._waiting.get(conversation_id)
        finally:
            self._tasks.pop(conversation_id, None)
            if not self._waiting.get(conversation_id, True):
                del self._waiting[conversation_id]

    async def _answer(self, question: _Question) -> None:
        chat = self._chat
        started = time.monotonic()
        message = question.message
        conversation_id = message.conversation_id
        profile = self._fresh_profile(question.chatbot_id) or await self._profile(
            question.chatbot_id
        )
        if profile is None:
            return
        chatbot, brain = profile
        tenant_id = question.tenant_id
        task = asyncio.current_task()
        assert task is not None
        watch = _StatusWatch(task)
        async with chat.hub.conversation(tenant_id, conversation_id, watch):
            typing = Event(typing_frame("bot", conversation_id), conversation_id)
            chat.hub.publish(typing, tenant_id, Audience.EVERYONE)
            request = await self._request(chatbot, message)
            # A setting that no longer parses gets the fallback answer from `Brains.reply`;
            # a chatbot over its token budget gets it too, and a handoff.
            reply = await budgeted_reply(
                chat.app,
                self.brains,
                chatbot,
                request,
                conversation_id=conversation_id,
                brain=brain,
            )
            async with reply:
                async for delta in reply:
                    token = Event(bot_token_frame(conversation_id, delta), conversation_id)
                    chat.hub.publish(token, tenant_id, Audience.EVERYONE)
        try:
            stored = await chat.append(Write(conversation_id, "bot", reply.text), tenant_id)
        except StoreUnavailable as exc:
            log.warning("bot: answer in %s not stored (%s)", conversation_id, exc)
            return
        chat.announce(stored, tenant_id)
        metrics_of(chat.app).bot_answer_seconds.observe(time.monotonic() - started)
        if reply.handoff and stored.status == "bot":
            await chat.hand_off(conversation_id, only_from=("bot",))

    def _fresh_profile(self, chatbot_id: str) -> tuple[ChatbotRecord, Brain | None] | None:
        """The chatbot and its brain as read less than `PROFILE_TTL_SECONDS` ago, if so."""
        known = self._profiles.get(chatbot_id)
        if known is not None and time.monotonic() - known[0] < PROFILE_TTL_SECONDS:
            return known[1], known[2]
        return None

    async def _profile(self, chatbot_id: str) -> tuple[ChatbotRecord, Brain | None] | None:
        """The chatbot and its brain, read again from the lookup cache or the database."""
        now = time.monotonic()
        chatbot = await chatbot_by_id(self._chat.app, chatbot_id)
        if chatbot is None:
            self._profiles.pop(chatbot_id, None)
            return None
        try:
            brain: Brain | None = self.brains.for_config(parse_brain_config(chatbot.brain))
        except ValidationError:
            brain = None
        self._profiles.pop(chatbot_id, None)
        self._profiles[chatbot_id] = (now, chatbot, brain)
        if len(self._profiles) > MAX_PROFILES:
            del self._profiles[next(iter(self._profiles))]
        return chatbot, brain

    async def _request(self, chatbot: ChatbotRecord, message: MessageView) -> BrainRequest:
        """What the brain needs, and only that: history and knowledge are read when used."""
        history: list[Turn] = []
        if uses_history(chatbot) and self._history_window:
            history = await self.stored_history(message, self._history_window)
        return await brain_request(self._chat.app, chatbot, message.text, history)

    async def stored_history(self, message: MessageView, count: int) -> list[Turn]:
        """The `count` stored messages before `message`, as the brain's history."""
        earlier = await self._chat.history.before(message.conversation_id, message.seq, count)
        return [Turn(role=m.role, text=m.text) for m in earlier]


def uses_history(chatbot: ChatbotRecord) -> bool:
    """Whether the chatbot's brain reads the conversation's earlier turns (LLMs do)."""
    return brain_type(chatbot.brain) == "openai"


async def brain_request(
    app: web.Application, chatbot: ChatbotRecord, question: str, history: Sequence[Turn]
) -> BrainRequest:
    """The brain's request for `question`; the knowledge index is read only by brains using it."""
    knowledge = None
    if brain_type(chatbot.brain) in ("knowledge", "openai"):
        knowledge = await knowledge_index(app, chatbot.id)
    return BrainRequest(
        chatbot_name=chatbot.name,
        question=question,
        config=chatbot.brain,
        history=history,
        knowledge=knowledge,
    )
