"""One chat completion: the question stored in the chatbot's API conversation, the brain's
answer streamed, then stored and announced like the widget's (the Inbox shows both).

    answer = await start_answer(request, body, named=header)  # every 4xx/503 raised here
    async for delta in answer.deltas():
        send(delta)
    result = await answer.finish()
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from chatbot import keys
from chatbot.brains.base import BrainReply, Turn
from chatbot.brains.factory import brain_type
from chatbot.brains.knowledge import stream_chunks
from chatbot.brains.usage import TokenUsage, estimate_prompt
from chatbot.chat.bot import brain_request, uses_history
from chatbot.chat.service import CHAT, ChatService
from chatbot.chat.store import ConversationGone, Stored, StoreUnavailable, Write
from chatbot.chatbots.repository import ChatbotRecord
from chatbot.errors import ServiceUnavailable
from chatbot.openai_api.catalog import chatbot_for_model, model_not_found
from chatbot.openai_api.conversation import API_CHANNEL, ApiConversation, api_conversation
from chatbot.openai_api.question import Question, read_question
from chatbot.openai_api.schemas import ChatCompletionRequest
from chatbot.spend.budget import budgeted_reply

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AnswerResult:
    """What the caller is told after the last delta."""

    usage: TokenUsage
    status: str  # the conversation's status after the answer


class Answer:
    """An answer in progress: `deltas` streams it, `finish` stores it."""

    def __init__(
        self,
        chat: ChatService,
        chatbot: ChatbotRecord,
        conversation_id: str,
        prompt: list[dict[str, str]],
        reply: BrainReply | None,
        silent_text: str,
        status: str,
    ) -> None:
        self.chatbot = chatbot
        self.conversation_id = conversation_id
        self._chat = chat
        self._prompt = prompt
        self._reply = reply  # None: a person handles the conversation, the bot stays silent
        self._silent_text = silent_text
        self._status = status
        # Stored answers are ready at once; sent word by word, they read as a generated one.
        self._by_word = brain_type(chatbot.brain) != "openai"

    @property
    def text(self) -> str:
        return self._silent_text if self._reply is None else self._reply.text

    async def deltas(self) -> AsyncIterator[str]:
        """The answer's text, piece by piece: an LLM's tokens as they come, others by word."""
        if self._reply is None:
            for word in stream_chunks(self._silent_text, 1):
                yield word
            return
        async for delta in self._reply:
            if self._by_word:
                for word in stream_chunks(delta, 1):
                    yield word
            else:
                yield delta

    async def __aenter__(self) -> Answer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        # Releases the brain (its HTTP stream) when the caller went away early.
        if self._reply is not None:
            await self._reply.aclose()

    async def finish(self) -> AnswerResult:
        """Store the answer (a silent bot stores nothing) and hand off if the brain asked to."""
        reply = self._reply
        answer = self.text
        usage = reply.usage if reply is not None else None
        if usage is None:
            usage = estimate_prompt(self._prompt).with_completion(answer)
        if reply is None or not answer.strip():
            return AnswerResult(usage, self._status)
        chat, tenant_id = self._chat, self.chatbot.workspace_id
        try:
            stored = await chat.append(Write(self.conversation_id, "bot", answer), tenant_id)
        except (StoreUnavailable, ConversationGone) as exc:
            # The caller has the answer already; only the record of it is lost.
            log.warning("openai api: answer in %s not stored (%r)", self.conversation_id, exc)
            return AnswerResult(usage, self._status)
        chat.announce(stored, tenant_id, API_CHANNEL)
        status = stored.status
        if reply.handoff and status == "bot":
            view, _ = await chat.set_status(
                self.conversation_id, "waiting_for_human", only_from=("bot",), hand_off=True
            )
            status = view.status if view is not None else status
        return AnswerResult(usage, status)


async def start_answer(
    request: web.Request, body: ChatCompletionRequest, *, named: str | None
) -> Answer:
    """Check the request, store the question, and start the brain; raises before any answer."""
    app = request.app
    settings = app[keys.SETTINGS]
    chat = app[CHAT]
    chatbot = await chatbot_for_model(request, body.model)
    question = read_question(
        body.messages,
        max_messages=settings.openai_api.max_messages,
        max_text_length=settings.chat.max_text_length,
    )
    conversation = await api_conversation(chat.engine, chatbot.id, named=named, user=body.user)
    stored = await _store_question(chat, chatbot, conversation, question)
    prompt = [{"content": message.text} for message in body.messages]
    status = stored.status
    if status == "closed":  # a new message reopens a closed conversation, as in the widget
        view, _ = await chat.set_status(conversation.id, "bot", only_from=("closed",))
        status = view.status if view is not None else status
    if status != "bot":
        silent = settings.openai_api.waiting_message
        return Answer(chat, chatbot, conversation.id, prompt, None, silent, status)
    history: list[Turn] = question.earlier
    if not history and conversation.new is None and uses_history(chatbot):
        history = await chat.bots.stored_history(stored.message, settings.chat.history_window)
    brain_req = await brain_request(app, chatbot, question.text, history)
    reply = await budgeted_reply(
        app, chat.bots.brains, chatbot, brain_req, conversation_id=conversation.id
    )
    return Answer(chat, chatbot, conversation.id, prompt, reply, "", status)


async def _store_question(
    chat: ChatService, chatbot: ChatbotRecord, conversation: ApiConversation, question: Question
) -> Stored:
    """Store the question; a new conversation stores the request's earlier turns before it, so
    that operators who take over see what was said. Returns the question as stored."""
    writes = [Write(conversation.id, "visitor", question.text)]
    if conversation.new is not None:
        writes[:0] = [Write(conversation.id, turn.role, turn.text) for turn in question.earlier]
        writes[0].new_conversation = conversation.new
    # Operators learn of a conversation at its first visitor message: earlier bot turns are
    # stored, not announced (like the widget's greeting).
    visible = conversation.new is None
    stored: Stored | None = None
    for write in writes:
        try:
            stored = await chat.append(write, chatbot.workspace_id)
        except StoreUnavailable as exc:
            raise ServiceUnavailable(
                f"the message could not be stored ({exc}); send the request again shortly"
            ) from None
        except ConversationGone:
            # The chatbot was deleted meanwhile: it is no model any more.
            raise model_not_found(chatbot.slug) from None
        visible = visible or stored.first_visitor_message
        if visible:
            chat.announce(stored, chatbot.workspace_id, API_CHANNEL)
    assert stored is not None
    return stored
