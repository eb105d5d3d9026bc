"""Budgets: whether a chatbot may still spend tokens, and the one way to ask it for an answer.

`budgeted_reply` is what the chat's bot (and any other caller of a brain, e.g. an API that
answers with a chatbot) calls instead of `Brains.reply`:

    reply = await budgeted_reply(app, brains, chatbot, request, conversation_id=...)
    async with reply:
        async for delta in reply: ...
    reply.usage  # the tokens it cost, recorded once the reply ended

Over budget, the reply is the chatbot's fallback message with a handoff (verdict reasons
`monthly_budget` and `conversation_budget`), and the brain is never called. A budget is
checked before each answer, so answers running at that moment may pass it by their own size.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Literal

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot import keys
from chatbot.brains.base import Brain, BrainReply, BrainRequest, fallback_events
from chatbot.brains.factory import Brains, spends_tokens
from chatbot.chatbots.repository import ChatbotRecord
from chatbot.chatbots.schemas import stored_token_budget
from chatbot.spend import ledger
from chatbot.storage.values import utcnow

log = logging.getLogger(__name__)

Limit = Literal["monthly", "per_conversation"]
REASONS: dict[Limit, str] = {
    "monthly": "monthly_budget",
    "per_conversation": "conversation_budget",
}


@dataclass(frozen=True, slots=True)
class Reached:
    """A limit that is reached: which, its size, and what was spent against it."""

    limit: Limit
    budget: int
    spent: int

    @property
    def reason(self) -> str:
        return REASONS[self.limit]


async def reached_limit(
    engine: AsyncEngine, chatbot: ChatbotRecord, conversation_id: str | None, today: date
) -> Reached | None:
    """The first limit of the chatbot's budget that is reached, if any (monthly first)."""
    budget = stored_token_budget(chatbot.token_budget)
    if budget.monthly is not None:
        spent = await ledger.month_spent(engine, chatbot.id, ledger.month_of(today))
        if spent.total_tokens >= budget.monthly:
            return Reached("monthly", budget.monthly, spent.total_tokens)
    if budget.per_conversation is not None and conversation_id is not None:
        spent = await ledger.conversation_spent(engine, conversation_id)
        if spent.total_tokens >= budget.per_conversation:
            return Reached("per_conversation", budget.per_conversation, spent.total_tokens)
    return None


async def budgeted_reply(
    app: web.Application,
    brains: Brains,
    chatbot: ChatbotRecord,
    request: BrainRequest,
    *,
    conversation_id: str | None,
    brain: Brain | None = None,
) -> BrainReply:
    """The chatbot's answer to `request`, within its token budget, its usage recorded.

    `conversation_id` is the conversation it answers in (None outside one: only the monthly
    budget applies). `brain` is the chatbot's brain when the caller already picked it
    (default: `brains` picks it from the chatbot's setting).
    """
    engine = app[keys.ENGINE]
    if spends_tokens(chatbot.brain):
        reached = await reached_limit(engine, chatbot, conversation_id, utcnow().date())
        if reached is not None:
            await _warn_once(engine, chatbot, conversation_id, reached, utcnow().date())
            fallback = brains.fallback_for(chatbot.brain)
            return BrainReply(fallback_events(fallback, reached.reason), fallback_message=fallback)
    reply = (brain or brains).reply(request)
    reply.on_end = partial(_record, engine, chatbot.id, conversation_id)
    return reply


async def _record(
    engine: AsyncEngine, chatbot_id: str, conversation_id: str | None, reply: BrainReply
) -> None:
    usage = reply.usage
    if usage is not None:
        await ledger.record_usage(engine, chatbot_id, conversation_id, usage, utcnow().date())


async def _warn_once(
    engine: AsyncEngine,
    chatbot: ChatbotRecord,
    conversation_id: str | None,
    reached: Reached,
    today: date,
) -> None:
    """One warning per chatbot, month and budget (or conversation and cap), on any instance."""
    if reached.limit == "monthly":
        month = ledger.month_of(today)
        if await ledger.claim_month_warning(engine, chatbot.id, month, reached.budget):
            log.warning(
                "chatbot %r (%s) reached its monthly token budget: %d of %d tokens in %s. "
                "Its LLM answers stop and conversations go to a person until the month ends "
                "or the budget is raised.",
                chatbot.slug,
                chatbot.id,
                reached.spent,
                reached.budget,
                month,
            )
    elif conversation_id is not None and await ledger.claim_conversation_warning(
        engine, conversation_id, reached.budget
    ):
        log.warning(
            "conversation %s of chatbot %r (%s) reached the per-conversation token budget: "
            "%d of %d tokens. It goes to a person; the bot no longer answers in it.",
            conversation_id,
            chatbot.slug,
            chatbot.id,
            reached.spent,
            reached.budget,
        )
