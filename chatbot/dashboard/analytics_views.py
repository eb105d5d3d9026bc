"""The analytics page: a date range (the last 30 days by default) drawn as SVG charts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from chatbot import keys
from chatbot.chatbots import repository as chatbots_repo
from chatbot.dashboard.analytics import DateRange, analytics
from chatbot.dashboard.charts import Series, duration, stacked_bars
from chatbot.dashboard.member_analytics import member_analytics
from chatbot.dashboard.pages import page, render
from chatbot.dashboard.workspace_context import current_workspace, shown_workspace_ids
from chatbot.spend.ledger import days_spent
from chatbot.spend.notices import budget_notices
from chatbot.storage.values import utcnow
from chatbot.vocabulary import ROLES
from chatbot.workspaces.repository import members

DEFAULT_DAYS = 30
MAX_DAYS = 366
COLOURS = {"visitor": "#2563eb", "bot": "#94a3b8", "operator": "#16a34a"}
HANDED_COLOUR = "#f59e0b"
TOKEN_COLOURS = {"prompt": "#7c3aed", "completion": "#c4b5fd"}


def _day(query: Any, name: str, problems: list[str]) -> date | None:
    raw = query.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        shown = str(raw)[:40]
        problems.append(f"{name.capitalize()} date {shown!r} is not a date like 2025-01-31.")
        return None


def date_range(query: Any, today: date) -> tuple[DateRange, str]:
    """The range asked for in `?start=&end=`, or the last 30 days; and what was wrong with it."""
    problems: list[str] = []
    end = _day(query, "end", problems) or today
    start = _day(query, "start", problems) or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        problems.append("The start date is after the end date: showing the 30 days to the end.")
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    if (end - start).days + 1 > MAX_DAYS:
        problems.append(f"At most {MAX_DAYS} days at once: showing the last {MAX_DAYS} days.")
        start = end - timedelta(days=MAX_DAYS - 1)
    return DateRange(start, end), " ".join(problems)


@dataclass(frozen=True, slots=True)
class MemberRow:
    """A line of the per-member table."""

    user_id: str
    name: str
    email: str
    handled: int
    median_first_response: str


async def member_rows(
    request: web.Request, selected: DateRange, chatbot_id: str | None
) -> list[MemberRow]:
    """Each member of the current workspace, with what they handled in the range."""
    current = current_workspace(request)
    if current is None:
        return []
    engine = request.app[keys.ENGINE]
    stats = await member_analytics(engine, [current.workspace_id], selected, chatbot_id)
    rows = []
    for member in await members(engine, current.workspace_id):
        found = stats.get(member.user_id)
        median = None if found is None else found.median_first_response
        rows.append(
            MemberRow(
                member.user_id,
                member.name,
                member.email,
                0 if found is None else found.handled,
                "–" if median is None else duration(median),
            )
        )
    return rows


@page()
async def analytics_page(request: web.Request) -> web.StreamResponse:
    workspace_ids = shown_workspace_ids(request)
    engine = request.app[keys.ENGINE]
    selected, problem = date_range(request.query, utcnow().date())
    chatbots = await chatbots_repo.list_chatbots(engine, workspace_ids)
    chatbot_id = request.query.get("chatbot") or None
    if chatbot_id is not None and chatbot_id not in {chatbot.id for chatbot in chatbots}:
        problem = f"{problem} That chatbot is not yours: showing all of them.".strip()
        chatbot_id = None
    data = await analytics(engine, workspace_ids, selected, chatbot_id)
    shown = [chatbot for chatbot in chatbots if chatbot_id in (None, chatbot.id)]
    tokens = await days_spent(
        engine, [chatbot.id for chatbot in shown], selected.start, selected.end
    )
    days = selected.days
    handed = data.handed_off
    bot_only = {day: total - handed.get(day, 0) for day, total in data.conversations.items()}
    charts = [
        stacked_bars(
            "Conversations per day",
            days,
            [
                Series("Bot only", COLOURS["bot"], bot_only),
                Series("Handed to a person", HANDED_COLOUR, data.handed_off),
            ],
        ),
        stacked_bars(
            "Messages per day",
            days,
            [
                Series(
                    role.capitalize(),
                    COLOURS[role],
                    {day: by_role.get(role, 0) for day, by_role in data.messages.items()},
                )
                for role in ROLES
            ],
        ),
        stacked_bars(
            "Median time to first operator answer",
            days,
            [Series("Median wait", COLOURS["operator"], data.daily_median_answer())],
            value_label=duration,
        ),
        stacked_bars(
            "LLM tokens per day",
            days,
            [
                Series(
                    "Prompt",
                    TOKEN_COLOURS["prompt"],
                    {d: s.prompt_tokens for d, s in tokens.items()},
                ),
                Series(
                    "Completion",
                    TOKEN_COLOURS["completion"],
                    {d: s.completion_tokens for d, s in tokens.items()},
                ),
            ],
        ),
    ]
    share = data.handed_off_share
    median = data.median_answer_seconds
    context = {
        "range": selected,
        "problem": problem,
        "chatbots": chatbots,
        "chatbot_id": chatbot_id,
        "charts": charts,
        "members": await member_rows(request, selected, chatbot_id),
        "budget_notices": await budget_notices(engine, shown, utcnow().date()),
        "kpis": [
            ("Conversations", str(data.total_conversations)),
            ("Messages", str(data.total_messages)),
            ("Handed to a person", "–" if share is None else f"{share:.0%}"),
            ("Median first answer", "–" if median is None else duration(median)),
            ("LLM tokens", f"{sum(spent.total_tokens for spent in tokens.values()):,}"),
        ],
    }
    return render(request, "analytics.html", context)
