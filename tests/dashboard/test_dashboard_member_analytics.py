"""Analytics per member, on both stacks: conversations each member answered and their median
first response, from conversations made over the real visitor and operator sockets."""

from __future__ import annotations

import html
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from api_support import PASSWORD, bearer, register
from visitor_support import operator_acts, visitor_says

from chatbot import keys
from chatbot.dashboard.analytics import DateRange
from chatbot.dashboard.charts import duration
from chatbot.dashboard.member_analytics import member_analytics
from chatbot.storage.values import utcnow

from .dashboard_support import post_form
from conftest import AppClient, ClientFactory

pytestmark = pytest.mark.both_stacks


@dataclass(frozen=True)
class Person:
    id: str
    email: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Team:
    owner: Person
    admin: Person
    agent: Person
    workspace_id: str


@pytest.fixture
async def api(make_client: ClientFactory) -> AppClient:
    return await make_client(brains={"semantic": False})


async def _json(response: Any, status: int) -> Any:
    body = await response.json()
    assert response.status == status, body
    return body


async def _person(api: AppClient, name: str) -> Person:
    body = await register(api, name=name)
    return Person(body["user"]["id"], body["user"]["email"], bearer(body["access"]))


async def _echo_bot(api: AppClient, person: Person, workspace_id: str | None = None) -> Any:
    """An echo chatbot in the workspace (the person's own by default)."""
    fields: dict[str, Any] = {"name": "Echo", "greeting": "", "brain": {"type": "echo"}}
    if workspace_id is not None:
        fields["workspace_id"] = workspace_id
    response = await api.post("/api/chatbots/", json=fields, headers=person.headers)
    return await _json(response, 201)


async def _team(api: AppClient) -> Team:
    """An owner with an admin and an agent who accepted their invitations."""
    owner, admin, agent = [await _person(api, name) for name in ("Olivia", "Adam", "Agnes")]
    listed = await _json(await api.get("/api/workspaces/", headers=owner.headers), 200)
    [workspace_id] = [w["id"] for w in listed["items"] if w["role"] == "owner"]
    for person, role in ((admin, "admin"), (agent, "agent")):
        invitation = await _json(
            await api.post(
                f"/api/workspaces/{workspace_id}/invitations/",
                json={"email": person.email, "role": role},
                headers=owner.headers,
            ),
            201,
        )
        accept = f"/api/invitations/{invitation['token']}/accept/"
        await _json(await api.post(accept, headers=person.headers), 200)
    return Team(owner, admin, agent, workspace_id)


async def _times(api: AppClient, owner: Person, conversation_id: str) -> dict[str, datetime]:
    """When each text of the conversation was written (the first time), as the API says."""
    path = f"/api/conversations/{conversation_id}/messages/"
    body = await _json(await api.get(path, headers=owner.headers), 200)
    times: dict[str, datetime] = {}
    for message in body["items"]:
        times.setdefault(message["text"], datetime.fromisoformat(message["created_at"]))
    return times


async def _wait(
    api: AppClient, owner: Person, conversation_id: str, asked: str, answer: str
) -> float:
    times = await _times(api, owner, conversation_id)
    return (times[answer] - times[asked]).total_seconds()


@dataclass(frozen=True)
class Worked:
    team: Team
    main: str  # the chatbot ids
    other: str
    waits: dict[str, list[float]]  # per user id, for the main chatbot
    other_wait: float  # the agent's, in the other chatbot


async def _worked(api: AppClient) -> Worked:
    """The owner answers A and C, the agent B and C (twice in B), the admin nothing; the agent
    also answers in the workspace's other chatbot, and in their own workspace."""
    team = await _team(api)
    owner, agent = team.owner, team.agent
    main = await _echo_bot(api, owner, team.workspace_id)
    other = await _echo_bot(api, owner, team.workspace_id)
    slug, other_slug = main["slug"], other["slug"]

    a = await visitor_says(api, slug, ["hello"])
    await operator_acts(api, owner.headers, a, status="human", texts=("owner here",))
    b = await visitor_says(api, slug, ["need help", "still there?"])
    await operator_acts(api, agent.headers, b, status="human", texts=("agent here", "more"))
    c = await visitor_says(api, slug, ["third"])
    await operator_acts(api, agent.headers, c, status="human", texts=("agent again",))
    await operator_acts(api, owner.headers, c, texts=("owner joins",), client_prefix="owner")
    await visitor_says(api, slug, ["bot only"])  # nobody answered: counts for nobody
    e = await visitor_says(api, other_slug, ["elsewhere"])
    await operator_acts(api, agent.headers, e, status="human", texts=("agent elsewhere",))
    own_bot = await _echo_bot(api, agent)  # in the agent's own workspace
    own = await visitor_says(api, own_bot["slug"], ["agent's own"])
    await operator_acts(api, agent.headers, own, status="human", texts=("not the team's",))

    waits = {
        owner.id: [
            await _wait(api, owner, a, "hello", "owner here"),
            await _wait(api, owner, c, "third", "owner joins"),
        ],
        agent.id: [
            await _wait(api, owner, b, "need help", "agent here"),
            await _wait(api, owner, c, "third", "agent again"),
        ],
    }
    other_wait = await _wait(api, owner, e, "elsewhere", "agent elsewhere")
    return Worked(team, main["id"], other["id"], waits, other_wait)


def _today() -> DateRange:
    today = utcnow().date()
    return DateRange(today, today)


async def test_each_member_counts_the_conversations_they_answered_and_their_median_wait(
    api: AppClient,
) -> None:
    worked = await _worked(api)
    owner, agent = worked.team.owner, worked.team.agent

    stats = await member_analytics(api.app[keys.ENGINE], [worked.team.workspace_id], _today())

    assert {user: s.handled for user, s in stats.items()} == {owner.id: 2, agent.id: 3}
    assert worked.team.admin.id not in stats
    assert stats[owner.id].median_first_response == pytest.approx(
        statistics.median(worked.waits[owner.id]), abs=0.005
    )
    agent_waits = [*worked.waits[agent.id], worked.other_wait]
    assert sorted(stats[agent.id].first_response_seconds) == pytest.approx(
        sorted(agent_waits), abs=0.005
    )
    assert all(wait > 0 for wait in agent_waits)


async def test_one_chatbot_and_other_days_narrow_the_members_numbers(api: AppClient) -> None:
    worked = await _worked(api)
    engine, workspace = api.app[keys.ENGINE], [worked.team.workspace_id]
    agent = worked.team.agent

    main_only = await member_analytics(engine, workspace, _today(), worked.main)
    other_only = await member_analytics(engine, workspace, _today(), worked.other)
    today = _today().start
    before = await member_analytics(
        engine, workspace, DateRange(today - timedelta(days=2), today - timedelta(days=1))
    )

    assert main_only[agent.id].handled == 2
    assert main_only[agent.id].median_first_response == pytest.approx(
        statistics.median(worked.waits[agent.id]), abs=0.005
    )
    assert {user: s.handled for user, s in other_only.items()} == {agent.id: 1}
    assert before == {}


async def test_the_analytics_page_lists_every_member_of_the_workspace(api: AppClient) -> None:
    worked = await _worked(api)
    team = worked.team
    response = await post_form(
        api, "/dashboard/login/", {"email": team.owner.email, "password": PASSWORD}
    )
    assert response.status == 303, await response.text()

    page = html.unescape(await (await api.get("/dashboard/analytics/")).text())

    table = page.split('data-role="member-analytics"')[1].split("</table>")[0]
    rows = {row.split('"')[0]: row for row in table.split('<tr data-user-id="')[1:]}
    assert set(rows) == {team.owner.id, team.admin.id, team.agent.id}
    assert '<td data-stat="handled">2</td>' in rows[team.owner.id]
    assert '<td data-stat="handled">3</td>' in rows[team.agent.id]
    assert '<td data-stat="handled">0</td>' in rows[team.admin.id]
    assert '<td data-stat="median-first-response">–</td>' in rows[team.admin.id]
    agent_median = duration(statistics.median([*worked.waits[team.agent.id], worked.other_wait]))
    assert f'<td data-stat="median-first-response">{agent_median}</td>' in rows[team.agent.id]
    assert "Agnes" in rows[team.agent.id]

    narrowed = html.unescape(
        await (await api.get(f"/dashboard/analytics/?chatbot={worked.other}")).text()
    )
    table = narrowed.split('data-role="member-analytics"')[1].split("</table>")[0]
    assert table.count('<td data-stat="handled">1</td>') == 1
    assert table.count('<td data-stat="handled">0</td>') == 2
