"""The usage route's query and answer."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chatbot.chatbots.schemas import TokenBudget
from chatbot.fields.types import omitted

MONTH_PATTERN = "^[1-9][0-9]{3}-(0[1-9]|1[0-2])$"


class UsageQuery(BaseModel):
    """`?month=YYYY-MM` (default: this month, UTC)."""

    # Unknown parameters are ignored, as on the web: cache busters like `?_=123` must not fail.
    model_config = ConfigDict(extra="ignore")

    month: Annotated[str, StringConstraints(pattern=MONTH_PATTERN)] | None = omitted(
        "a month like 2026-01 (UTC); default: this month"
    )


class Tokens(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class DayUsage(Tokens):
    day: str = Field(description="a UTC day, like 2026-01-31")
    replies: int


class UsageOut(Tokens):
    """A chatbot's LLM tokens in one month, against its budget."""

    chatbot_id: str
    month: str = Field(description="like 2026-01 (UTC)")
    replies: int = Field(description="answers that spent tokens")
    estimated_replies: int = Field(
        description="answers whose provider reported no usage: their tokens are estimated"
    )
    token_budget: TokenBudget
    remaining: int | None = Field(description="tokens left this month; null: no monthly limit")
    budget_reached: bool = Field(description="the monthly budget is used up")
    days: list[DayUsage] = Field(description="each day of the month up to today, oldest first")
