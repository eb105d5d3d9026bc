"""Analytics per member of a workspace: conversations handled and median first response.

A member handled a conversation when they wrote an operator message in it; the conversation
counts in the range that holds their first such message. Their first response time runs from
the conversation's first visitor message to that first message of theirs.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.dashboard.analytics import DateRange, as_datetime, owned
from chatbot.storage.schema import chatbots, conversations, messages


@dataclass(slots=True)
class MemberStats:
    """One member's share of the range: the conversations they answered, and how fast."""

    handled: int = 0
    first_response_seconds: list[float] = field(default_factory=list)

    @property
    def median_first_response(self) -> float | None:
        waits = self.first_response_seconds
        return statistics.median(waits) if waits else None


async def member_analytics(
    engine: AsyncEngine,
    workspace_ids: Collection[str],
    date_range: DateRange,
    chatbot_id: str | None = None,
) -> dict[str, MemberStats]:
    """Per operator (user id) who answered in the workspaces' conversations in the range."""
    conditions = owned(workspace_ids, chatbot_id)
    answered = func.min(messages.c.created_at).label("answered")
    first_answers = (
        select(messages.c.conversation_id, messages.c.author_id, answered)
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .join(chatbots, chatbots.c.id == conversations.c.chatbot_id)
        .where(*conditions, messages.c.role == "operator", messages.c.author_id.is_not(None))
        .group_by(messages.c.conversation_id, messages.c.author_id)
        .subquery()
    )
    lower, upper = date_range.bounds
    query = (
        select(
            first_answers.c.author_id,
            first_answers.c.answered,
            conversations.c.first_visitor_message_at.label("asked"),
        )
        .join(conversations, conversations.c.id == first_answers.c.conversation_id)
        .where(first_answers.c.answered >= lower, first_answers.c.answered < upper)
    )
    result: dict[str, MemberStats] = defaultdict(MemberStats)
    async with engine.connect() as connection:
        for row in await connection.execute(query):
            stats = result[row.author_id]
            stats.handled += 1
            if row.asked is None:
                continue  # no visitor message yet: nobody was waiting
            wait = (as_datetime(row.answered) - as_datetime(row.asked)).total_seconds()
            if wait >= 0:  # else the operator wrote first
                stats.first_response_seconds.append(wait)
    return dict(result)
