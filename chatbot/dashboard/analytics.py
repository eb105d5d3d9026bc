"""Analytics over a date range: conversations and messages per day, handoffs, answer times.

Counting happens in SQL, grouped by UTC day, on SQLite and PostgreSQL alike; the median
time to the first operator answer is computed in Python from that range's conversations.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatbot.storage.schema import chatbots, conversations, messages
from chatbot.storage.values import as_utc


@dataclass(frozen=True, slots=True)
class DateRange:
    """Whole UTC days from `start` to `end`, both included."""

    start: date
    end: date

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """[from, until): midnight UTC of the first day, midnight after the last."""
        lower = datetime.combine(self.start, time(), UTC)
        return lower, datetime.combine(self.end + timedelta(days=1), time(), UTC)


@dataclass(slots=True)
class Analytics:
    """What the analytics page draws, for each day of its range."""

    range: DateRange
    conversations: dict[date, int] = field(default_factory=dict)
    handed_off: dict[date, int] = field(default_factory=dict)
    messages: dict[date, dict[str, int]] = field(default_factory=dict)
    answer_seconds: dict[date, list[float]] = field(default_factory=dict)

    @property
    def total_conversations(self) -> int:
        return sum(self.conversations.values())

    @property
    def total_messages(self) -> int:
        return sum(sum(by_role.values()) for by_role in self.messages.values())

    @property
    def handed_off_share(self) -> float | None:
        """The share of conversations handed to a person, or None without conversations."""
        total = self.total_conversations
        return None if total == 0 else sum(self.handed_off.values()) / total

    @property
    def median_answer_seconds(self) -> float | None:
        waits = [wait for day in self.answer_seconds.values() for wait in day]
        return statistics.median(waits) if waits else None

    def daily_median_answer(self) -> dict[date, float]:
        return {day: statistics.median(waits) for day, waits in self.answer_seconds.items()}


def _day(column: Any, dialect: str) -> Any:
    """The UTC calendar day of a timestamp column, in SQL."""
    if dialect == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)  # SQLite stores UTC text: its date() reads the day off it


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return as_utc(value)
    return as_utc(datetime.fromisoformat(str(value)))


def owned(workspace_ids: Collection[str], chatbot_id: str | None) -> list[Any]:
    conditions: list[Any] = [chatbots.c.workspace_id.in_(list(workspace_ids))]
    if chatbot_id is not None:
        conditions.append(chatbots.c.id == chatbot_id)
    return conditions


async def _conversations(
    connection: AsyncConnection, result: Analytics, conditions: list[Any], dialect: str
) -> None:
    started = conversations.c.first_visitor_message_at
    lower, upper = result.range.bounds
    day = _day(started, dialect).label("day")
    query = (
        select(
            day,
            func.count().label("total"),
            func.sum(case((conversations.c.handed_off, 1), else_=0)).label("handed"),
        )
        .join(chatbots, chatbots.c.id == conversations.c.chatbot_id)
        .where(*conditions, started >= lower, started < upper)
        .group_by(day)
    )
    for row in await connection.execute(query):
        result.conversations[_as_date(row.day)] = int(row.total)
        result.handed_off[_as_date(row.day)] = int(row.handed or 0)


async def _messages(
    connection: AsyncConnection, result: Analytics, conditions: list[Any], dialect: str
) -> None:
    lower, upper = result.range.bounds
    day = _day(messages.c.created_at, dialect).label("day")
    query = (
        select(day, messages.c.role, func.count().label("total"))
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .join(chatbots, chatbots.c.id == conversations.c.chatbot_id)
        .where(*conditions, messages.c.created_at >= lower, messages.c.created_at < upper)
        .group_by(day, messages.c.role)
    )
    for row in await connection.execute(query):
        result.messages.setdefault(_as_date(row.day), {})[row.role] = int(row.total)


async def _answer_times(
    connection: AsyncConnection, result: Analytics, conditions: list[Any]
) -> None:
    """How long visitors waited for a person, per conversation first answered in the range."""
    # From the visitor's latest message before the first operator answer, to that answer.
    answered = conversations.c.first_operator_message_at
    waiting = messages.alias("waiting")
    asked = (
        select(func.max(waiting.c.created_at))
        .where(
            waiting.c.conversation_id == conversations.c.id,
            waiting.c.role == "visitor",
            waiting.c.created_at <= answered,
        )
        .scalar_subquery()
    )
    lower, upper = result.range.bounds
    query = (
        select(answered.label("answered"), asked.label("asked"))
        .join(chatbots, chatbots.c.id == conversations.c.chatbot_id)
        .where(*conditions, answered >= lower, answered < upper)
    )
    waits: dict[date, list[float]] = defaultdict(list)
    for row in await connection.execute(query):
        if row.asked is None:
            continue  # the operator wrote first: nobody was waiting
        answered_at = as_datetime(row.answered)
        seconds = (answered_at - as_datetime(row.asked)).total_seconds()
        waits[answered_at.date()].append(max(0.0, seconds))
    result.answer_seconds = dict(waits)


async def analytics(
    engine: AsyncEngine,
    workspace_ids: Collection[str],
    date_range: DateRange,
    chatbot_id: str | None = None,
) -> Analytics:
    """The workspaces' analytics for the range (one chatbot's when `chatbot_id` is given)."""
    result = Analytics(range=date_range)
    conditions = owned(workspace_ids, chatbot_id)
    dialect = engine.dialect.name
    async with engine.connect() as connection:
        await _conversations(connection, result, conditions, dialect)
        await _messages(connection, result, conditions, dialect)
        await _answer_times(connection, result, conditions)
    return result
