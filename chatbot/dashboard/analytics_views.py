"""The analytics page: a date range (the last 30 days by default) drawn as SVG charts."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from aiohttp import web

from chatbot import keys
from chatbot.chatbots import repository as chatbots_repo
from chatbot.dashboard.analytics import DateRange, analytics
from chatbot.dashboard.charts import Series, duration, stacked_bars
from chatbot.dashboard.pages import page, render
from chatbot.dashboard.workspace_context import shown_workspace_ids
from chatbot.storage.values import utcnow

DEFAULT_DAYS = 30
MAX_DAYS = 366
COLOURS = {"visitor": "#2563eb", "bot": "#94a3b8", "operator": "#16a34a"}
HANDED_COLOUR = "#f59e0b"


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
                for role in ("visitor", "bot", "operator")
            ],
        ),
        stacked_bars(
            "Median time to first operator answer",
            days,
            [Series("Median wait", COLOURS["operator"], data.daily_median_answer())],
            value_label=duration,
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
        "kpis": [
            ("Conversations", str(data.total_conversations)),
            ("Messages", str(data.total_messages)),
            ("Handed to a person", "–" if share is None else f"{share:.0%}"),
            ("Median first answer", "–" if median is None else duration(median)),
        ],
    }
    return render(request, "analytics.html", context)
