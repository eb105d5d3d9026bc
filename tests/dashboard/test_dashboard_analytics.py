"""Analytics on SQLite and PostgreSQL: daily counts, handoff share, time to a person's answer."""

from __future__ import annotations

import html
from datetime import UTC, date, datetime, timedelta

import pytest
from db_support import insert_conversation

from chatbot import keys
from chatbot.auth.repository import insert_user
from chatbot.dashboard.analytics import DateRange, analytics
from chatbot.dashboard.analytics_views import date_range
from chatbot.workspaces.repository import memberships

from .dashboard_support import create_chatbot, sign_up, user_id_of
from conftest import AppClient, ClientFactory

DAY1 = datetime(2026, 2, 10, 0, 0, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
RANGE = DateRange(DAY1.date(), DAY2.date())


def at(day: datetime, hours: float) -> datetime:
    return day + timedelta(hours=hours)


@pytest.fixture
async def client(make_client: ClientFactory, database_url: str) -> AppClient:
    """The app on this test's database (SQLite, then PostgreSQL), with a logged-in owner."""
    client = await make_client(database_url=database_url, brains={"semantic": False})
    await sign_up(client)
    return client


async def workspaces_of_user(client: AppClient, user_id: str) -> list[str]:
    """The ids of the user's workspaces, as the dashboard's policy gives them."""
    return [m.workspace_id for m in await memberships(client.app[keys.ENGINE], user_id)]


async def seeded(client: AppClient) -> tuple[list[str], str, str]:
    """Two chatbots of the owner with conversations over two days; (the owner's workspaces,
    first, second).

    Written straight to the tables (`db_support`): analytics counts by day, and the sockets
    stamp every message with the current time, so past days cannot be made through them.
    """
    engine = client.app[keys.ENGINE]
    first = await create_chatbot(client, "First", greeting="")
    second = await create_chatbot(client, "Second", greeting="")
    # Day 1: a bot-only conversation, and one handed over whose visitor waited 60 s.
    await insert_conversation(
        engine, first, [("visitor", "hi", at(DAY1, 9)), ("bot", "hello", at(DAY1, 9.001))]
    )
    await insert_conversation(
        engine,
        first,
        [
            ("visitor", "help", at(DAY1, 10)),
            ("bot", "sorry", at(DAY1, 10.001)),
            ("visitor", "a person please", at(DAY1, 11)),
            ("operator", "here I am", at(DAY1, 11) + timedelta(seconds=60)),
        ],
        status="human",
    )
    # Day 2, just before midnight: a wait of 300 s; and a conversation of the other chatbot.
    await insert_conversation(
        engine,
        second,
        [
            ("visitor", "late question", at(DAY2, 23.9)),
            ("operator", "late answer", at(DAY2, 23.9) + timedelta(seconds=300)),
        ],
    )
    # Outside the range (the next day at midnight): never counted.
    await insert_conversation(engine, first, [("visitor", "tomorrow", DAY2 + timedelta(days=1))])
    return await workspaces_of_user(client, await user_id_of(client)), first, second


async def test_conversations_and_messages_are_counted_per_utc_day(client: AppClient) -> None:
    owner, _, _ = await seeded(client)

    result = await analytics(client.app[keys.ENGINE], owner, RANGE)

    assert result.conversations == {DAY1.date(): 2, DAY2.date(): 1}
    assert result.handed_off == {DAY1.date(): 1, DAY2.date(): 1}
    assert result.messages == {
        DAY1.date(): {"visitor": 3, "bot": 2, "operator": 1},
        DAY2.date(): {"visitor": 1, "operator": 1},
    }
    assert result.total_conversations == 3
    assert result.total_messages == 8
    assert result.handed_off_share == pytest.approx(2 / 3)


async def test_the_wait_for_a_person_runs_from_the_visitors_latest_message(
    client: AppClient,
) -> None:
    owner, _, _ = await seeded(client)

    result = await analytics(client.app[keys.ENGINE], owner, RANGE)

    assert result.answer_seconds == {DAY1.date(): [60.0], DAY2.date(): [300.0]}
    assert result.median_answer_seconds == pytest.approx(180.0)


async def test_one_chatbots_analytics_leave_the_others_out(client: AppClient) -> None:
    owner, _, second = await seeded(client)

    result = await analytics(client.app[keys.ENGINE], owner, RANGE, second)

    assert result.conversations == {DAY2.date(): 1}
    assert result.median_answer_seconds == pytest.approx(300.0)


async def test_another_owners_data_is_never_counted(client: AppClient) -> None:
    await seeded(client)
    engine = client.app[keys.ENGINE]
    stranger = await insert_user(engine, "stranger@example.com", "", "x")

    result = await analytics(engine, await workspaces_of_user(client, stranger.id), RANGE)

    assert result.total_conversations == 0
    assert result.handed_off_share is None
    assert result.median_answer_seconds is None


async def test_the_analytics_page_draws_the_range_as_svg_charts(client: AppClient) -> None:
    await seeded(client)

    response = await client.get("/dashboard/analytics/?start=2026-02-10&end=2026-02-11")

    page = await response.text()
    assert response.status == 200
    assert page.count('<svg class="chart-svg"') == 3
    assert 'data-kpi="Conversations">3<' in page
    assert 'data-kpi="Handed to a person">67%<' in page
    assert 'data-kpi="Median first answer">3.0 min<' in page
    assert "Feb 10 · Handed to a person: 1" in page


async def test_another_owners_chatbot_is_no_filter(
    client: AppClient, make_client: ClientFactory, database_url: str
) -> None:
    _, first, _ = await seeded(client)
    stranger = await make_client(database_url=database_url, brains={"semantic": False})
    await sign_up(stranger)

    response = await stranger.get(f"/dashboard/analytics/?chatbot={first}&start=2026-02-10")

    text = await response.text()
    assert "That chatbot is not yours" in text
    assert 'data-kpi="Conversations">0<' in text


async def test_unusable_dates_fall_back_to_the_last_30_days_with_a_note(client: AppClient) -> None:
    response = await client.get("/dashboard/analytics/?start=yesterday&end=2026-13-01")

    assert response.status == 200
    text = html.unescape(await response.text())
    assert "Start date 'yesterday' is not a date" in text
    assert "End date '2026-13-01' is not a date" in text


def test_the_default_range_is_the_last_30_days_including_today() -> None:
    today = date(2026, 3, 31)

    selected, problem = date_range({}, today)

    assert (selected.start, selected.end, problem) == (date(2026, 3, 2), today, "")
    assert len(selected.days) == 30


@pytest.mark.parametrize(
    ("query", "start", "note"),
    [
        ({"start": "2026-04-01", "end": "2026-03-01"}, date(2026, 1, 31), "after the end date"),
        ({"start": "2020-01-01", "end": "2026-03-01"}, date(2025, 3, 1), "At most 366 days"),
    ],
)
def test_reversed_or_overlong_ranges_are_bounded(
    query: dict[str, str], start: date, note: str
) -> None:
    selected, problem = date_range(query, date(2026, 3, 31))

    assert selected.start == start
    assert selected.end == date(2026, 3, 1)
    assert note in problem
