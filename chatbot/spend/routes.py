"""`GET /api/chatbots/{id}/usage/`: a month's LLM tokens of a chatbot, against its budget."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from aiohttp import web

from chatbot import keys
from chatbot.chatbots.routes import chatbot_for
from chatbot.chatbots.schemas import stored_token_budget
from chatbot.http.responses import json_response
from chatbot.http.routing import RouteTable
from chatbot.http.validation import read_query
from chatbot.spend import ledger
from chatbot.spend.schemas import DayUsage, UsageOut, UsageQuery
from chatbot.storage.values import utcnow
from chatbot.workspaces.roles import Action

TAG = "usage"


def month_days(month: str, today: date) -> list[date]:
    """The days of `month` ("2026-01") up to `today`: all of a past month, none of a future."""
    year, number = (int(part) for part in month.split("-"))
    first = date(year, number, 1)
    last = min(first.replace(day=calendar.monthrange(year, number)[1]), today)
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


async def chatbot_usage(request: web.Request) -> web.Response:
    query = read_query(request.query, UsageQuery)
    chatbot = await chatbot_for(request, request.match_info["chatbot_id"], Action.READ)
    engine = request.app[keys.ENGINE]
    today = utcnow().date()
    month = query.month or ledger.month_of(today)
    spent = await ledger.month_spent(engine, chatbot.id, month)
    days = month_days(month, today)
    daily = await ledger.days_spent(engine, [chatbot.id], days[0], days[-1]) if days else {}
    budget = stored_token_budget(chatbot.token_budget)
    remaining = None if budget.monthly is None else max(0, budget.monthly - spent.total_tokens)
    return json_response(
        UsageOut(
            chatbot_id=chatbot.id,
            month=month,
            prompt_tokens=spent.prompt_tokens,
            completion_tokens=spent.completion_tokens,
            total_tokens=spent.total_tokens,
            replies=spent.replies,
            estimated_replies=spent.estimated_replies,
            token_budget=budget,
            remaining=remaining,
            budget_reached=remaining == 0,
            days=[
                DayUsage(
                    day=day.isoformat(),
                    prompt_tokens=(used := daily.get(day, ledger.Spent())).prompt_tokens,
                    completion_tokens=used.completion_tokens,
                    total_tokens=used.total_tokens,
                    replies=used.replies,
                )
                for day in days
            ],
        )
    )


def add_usage_routes(routes: RouteTable) -> None:
    """Register the usage route."""
    routes.add(
        "GET",
        "/api/chatbots/{chatbot_id}/usage/",
        chatbot_usage,
        query=UsageQuery,
        response=UsageOut,
        errors=(401, 404, 422),
        summary="A month's LLM tokens of a chatbot, with its token budget",
        tag=TAG,
    )
