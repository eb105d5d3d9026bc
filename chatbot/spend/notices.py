"""What the dashboard tells owners about their budgets: which chatbots have used theirs up."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.chatbots.repository import ChatbotRecord
from chatbot.chatbots.schemas import stored_token_budget
from chatbot.spend import ledger


@dataclass(frozen=True, slots=True)
class BudgetNotice:
    """A chatbot whose monthly token budget is used up this month."""

    chatbot: ChatbotRecord
    month: str
    spent: int
    budget: int


async def budget_notices(
    engine: AsyncEngine, chatbots: Iterable[ChatbotRecord], today: date
) -> list[BudgetNotice]:
    """The chatbots among these whose monthly budget is reached (read only for those with one)."""
    month = ledger.month_of(today)
    notices = []
    for chatbot in chatbots:
        monthly = stored_token_budget(chatbot.token_budget).monthly
        if monthly is None:
            continue
        spent = (await ledger.month_spent(engine, chatbot.id, month)).total_tokens
        if spent >= monthly:
            notices.append(BudgetNotice(chatbot, month, spent, monthly))
    return notices
