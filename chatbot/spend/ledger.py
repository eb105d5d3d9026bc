"""The token ledger: usage added atomically per answer, read per month, day and conversation.

The database is the count every instance shares and the one budgets are checked against: each
answer adds its tokens in one transaction (an upsert that adds, never a read-then-write), so
that instances never lose each other's counts and a restart loses nothing. Months and days are
UTC.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Table, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatbot.brains.usage import TokenUsage
from chatbot.storage.schema import conversation_token_usage, token_usage_days, token_usage_months

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Spent:
    """Tokens spent over some period."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    replies: int = 0
    estimated_replies: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def month_of(day: date) -> str:
    """The ledger's month key, like "2026-01"."""
    return f"{day.year:04d}-{day.month:02d}"


async def _add(
    connection: AsyncConnection, table: Table, keys: Mapping[str, Any], counts: Mapping[str, int]
) -> None:
    """Insert the row with `counts`, or add them to the existing row, in one statement."""
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(table).values(**keys, **counts)
    added = {name: table.c[name] + statement.excluded[name] for name in counts}
    await connection.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=added))


async def record_usage(
    engine: AsyncEngine,
    chatbot_id: str,
    conversation_id: str | None,
    usage: TokenUsage,
    day: date,
) -> None:
    """Add one answer's tokens to its chatbot's month and day, and to its conversation."""
    if usage.total_tokens <= 0:
        return
    tokens = {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}
    try:
        async with engine.begin() as connection:
            # Always months before days: concurrent answers lock rows in one order.
            await _add(
                connection,
                token_usage_months,
                {"chatbot_id": chatbot_id, "month": month_of(day)},
                {**tokens, "replies": 1, "estimated_replies": int(usage.estimated)},
            )
            await _add(
                connection,
                token_usage_days,
                {"chatbot_id": chatbot_id, "day": day},
                {**tokens, "replies": 1},
            )
    except IntegrityError:
        log.info("token usage not recorded: chatbot %s was deleted meanwhile", chatbot_id)
        return
    if conversation_id is None:
        return
    try:
        async with engine.begin() as connection:
            await _add(
                connection, conversation_token_usage, {"conversation_id": conversation_id}, tokens
            )
    except IntegrityError:
        log.info("token usage of conversation %s not recorded: it was deleted", conversation_id)


async def month_spent(engine: AsyncEngine, chatbot_id: str, month: str) -> Spent:
    """The chatbot's tokens in `month`."""
    table = token_usage_months
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(
                    table.c.prompt_tokens,
                    table.c.completion_tokens,
                    table.c.replies,
                    table.c.estimated_replies,
                ).where(table.c.chatbot_id == chatbot_id, table.c.month == month)
            )
        ).first()
    return Spent() if row is None else Spent(*row)


async def conversation_spent(engine: AsyncEngine, conversation_id: str) -> Spent:
    """The conversation's tokens so far."""
    table = conversation_token_usage
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(table.c.prompt_tokens, table.c.completion_tokens).where(
                    table.c.conversation_id == conversation_id
                )
            )
        ).first()
    return Spent() if row is None else Spent(*row)


async def days_spent(
    engine: AsyncEngine, chatbot_ids: Collection[str], first: date, last: date
) -> dict[date, Spent]:
    """Tokens per day from `first` to `last` (inclusive), summed over these chatbots; days
    without any are left out."""
    if not chatbot_ids:
        return {}
    table = token_usage_days
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(
                table.c.day,
                func.sum(table.c.prompt_tokens),
                func.sum(table.c.completion_tokens),
                func.sum(table.c.replies),
            )
            .where(
                table.c.chatbot_id.in_(list(chatbot_ids)),
                table.c.day >= first,
                table.c.day <= last,
            )
            .group_by(table.c.day)
        )
        return {row[0]: Spent(int(row[1]), int(row[2]), int(row[3])) for row in rows}


async def _claim(
    engine: AsyncEngine, table: Table, where: list[ColumnElement[bool]], column: str, limit: int
) -> bool:
    warned = table.c[column]
    async with engine.begin() as connection:
        result = await connection.execute(
            update(table)
            .where(*where, or_(warned.is_(None), warned != limit))
            .values({column: limit})
        )
    return bool(result.rowcount)


async def claim_month_warning(engine: AsyncEngine, chatbot_id: str, month: str, limit: int) -> bool:
    """True for exactly one caller, on any instance, per chatbot, month and budget: the one
    that logs that the budget was reached."""
    table = token_usage_months
    where = [table.c.chatbot_id == chatbot_id, table.c.month == month]
    return await _claim(engine, table, where, "warned_budget", limit)


async def claim_conversation_warning(engine: AsyncEngine, conversation_id: str, limit: int) -> bool:
    """As `claim_month_warning`, for a conversation's cap."""
    table = conversation_token_usage
    where = [table.c.conversation_id == conversation_id]
    return await _claim(engine, table, where, "warned_cap", limit)
