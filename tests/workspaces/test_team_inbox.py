"""A team works one Inbox: assignment (socket and REST), close, presence, the offline answer to a
request for a person, and a removal that acts on open sockets at once."""

from __future__ import annotations

import pytest
from api_support import error_of
from team_support import (
    Team,
    assignee,
    conversation_event,
    frame_where,
    frames_within,
    make_team,
    operator,
    presence_of,
    visitor,
    visitor_writes,
)

from conftest import AppClient, ClientFactory

pytestmark = pytest.mark.both_stacks

OFFLINE_TEXT = "Nobody is here right now: we will write back."


@pytest.fixture
async def api(make_client: ClientFactory) -> AppClient:
    return await make_client(
        brains={"semantic": False}, chat={"offline_handoff_message": OFFLINE_TEXT}
    )


@pytest.fixture
async def team(api: AppClient) -> Team:
    return await make_team(api)


async def test_a_takeover_assigns_the_taker_and_its_event_already_says_so(
    api: AppClient, team: Team
) -> None:
    async with (
        operator(api, team.owner) as owner,
        operator(api, team.agent) as agent,
        visitor(api, team.chatbot["slug"]) as (guest, conversation_id),
    ):
        await visitor_writes(guest, "hello")
        started = await frame_where(owner, conversation_event(conversation_id))
        assert started["conversation"]["assignee"] is None

        await agent.send_json({"type": "takeover", "conversation_id": conversation_id})
        taken = conversation_event(conversation_id, status="human", assignee=assignee(team.agent))
        await frame_where(agent, taken)
        await frame_where(owner, taken)  # every operator of the workspace is told

        # Taken over again by someone else: it stays with the agent.
        await owner.send_json({"type": "takeover", "conversation_id": conversation_id})
        await frame_where(owner, taken)
        assert not [f for f in await frames_within(agent, 0.3) if f["type"] == "conversation"]


async def test_assign_and_close_reach_every_operator_of_the_workspace(
    api: AppClient, team: Team
) -> None:
    async with (
        operator(api, team.owner) as owner,
        operator(api, team.agent) as agent,
        operator(api, team.outsider) as outsider,
        visitor(api, team.chatbot["slug"]) as (guest, conversation_id),
    ):
        await visitor_writes(guest, "hello")
        await frame_where(agent, conversation_event(conversation_id))

        frame = {"type": "assign", "conversation_id": conversation_id}
        await owner.send_json({**frame, "user_id": team.admin.user["id"]})
        to_admin = conversation_event(conversation_id, assignee=assignee(team.admin))
        await frame_where(owner, to_admin)
        await frame_where(agent, to_admin)

        await agent.send_json({**frame, "user_id": None})
        await frame_where(owner, conversation_event(conversation_id, assignee=None))

        await agent.send_json({**frame, "user_id": team.outsider.user["id"]})
        refused = await frame_where(agent, lambda f: f["type"] == "error")
        assert refused["code"] == "not_a_member"
        assert refused["conversation_id"] == conversation_id

        await agent.send_json({"type": "close", "conversation_id": conversation_id})
        await frame_where(owner, conversation_event(conversation_id, status="closed"))
        status = await frame_where(guest, lambda f: f["type"] == "status")
        assert status["status"] == "closed"

        # The outsider heard none of it.
        assert not [f for f in await frames_within(outsider, 0.3) if f["type"] != "presence"]


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "assign", "conversation_id": "CONVERSATION"},  # user_id is required
        {"type": "assign", "conversation_id": "CONVERSATION", "user_id": 5},
        {"type": "assign", "conversation_id": "CONVERSATION", "user_id": ""},
        {"type": "assign", "conversation_id": "CONVERSATION", "user_id": "a\u0000b"},
        {"type": "assign", "user_id": None},
        {"type": "close"},
    ],
)
async def test_malformed_assign_and_close_frames_are_refused(
    api: AppClient, team: Team, frame: dict[str, object]
) -> None:
    async with (
        operator(api, team.owner) as owner,
        visitor(api, team.chatbot["slug"]) as (guest, conversation_id),
    ):
        await visitor_writes(guest, "hello")
        if frame.get("conversation_id"):
            frame = {**frame, "conversation_id": conversation_id}
        await owner.send_json(frame)
        refused = await frame_where(owner, lambda f: f["type"] == "error")
        assert refused["code"] == "invalid_message"
        await owner.send_json({"type": "ping"})  # still open
        await frame_where(owner, lambda f: f["type"] == "pong")


async def test_rest_assigns_and_filters_mine_unassigned_and_all(api: AppClient, team: Team) -> None:
    async with operator(api, team.owner) as owner:
        async with visitor(api, team.chatbot["slug"]) as (guest, first):
            await visitor_writes(guest, "first")
        async with visitor(api, team.chatbot["slug"]) as (guest, second):
            await visitor_writes(guest, "second")

        response = await api.patch(
            f"/api/conversations/{first}/",
            json={"assignee_id": team.agent.user["id"]},
            headers=team.admin.headers,
        )
        body = await response.json()
        assert response.status == 200, body
        assert body["assignee"] == assignee(team.agent)
        await frame_where(owner, conversation_event(first, assignee=assignee(team.agent)))

    listing = f"/api/chatbots/{team.chatbot['id']}/conversations/"

    async def ids(account_headers: dict[str, str], query: str) -> list[str]:
        response = await api.get(listing + query, headers=account_headers)
        assert response.status == 200, await response.text()
        return [item["id"] for item in (await response.json())["items"]]

    assert await ids(team.agent.headers, "?assignee=me") == [first]
    assert await ids(team.owner.headers, "?assignee=me") == []
    assert await ids(team.owner.headers, "?assignee=none") == [second]
    assert sorted(await ids(team.owner.headers, "?assignee=all")) == sorted([first, second])
    assert sorted(await ids(team.owner.headers, "")) == sorted([first, second])
    items = (await (await api.get(listing, headers=team.owner.headers)).json())["items"]
    assert {item["id"]: item["assignee"] for item in items} == {
        first: assignee(team.agent),
        second: None,
    }
    refused = await api.get(listing + "?assignee=someone", headers=team.owner.headers)
    assert (await error_of(refused, 422))["code"] == "validation_error"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"assignee_id": "OUTSIDER"}, 409, "not_a_member"),
        ({"assignee_id": "0" * 36}, 409, "not_a_member"),
        ({"assignee_id": ""}, 422, "validation_error"),
        ({"assignee_id": 7}, 422, "validation_error"),
        ({"assignee_id": "x" * 100}, 422, "validation_error"),
        ({}, 422, "validation_error"),
        ({"assignee_id": None, "status": "closed"}, 422, "validation_error"),
        ([], 422, "validation_error"),
        ("not json", 400, "invalid_json"),
    ],
)
async def test_rest_assignment_refuses_bad_input(
    api: AppClient, team: Team, body: object, status: int, code: str
) -> None:
    async with visitor(api, team.chatbot["slug"]) as (guest, conversation_id):
        await visitor_writes(guest, "hello")
    if body == {"assignee_id": "OUTSIDER"}:
        body = {"assignee_id": team.outsider.user["id"]}
    path = f"/api/conversations/{conversation_id}/"
    if isinstance(body, str):
        response = await api.patch(path, data=body, headers=team.owner.headers)
    else:
        response = await api.patch(path, json=body, headers=team.owner.headers)
    assert (await error_of(response, status))["code"] == code


async def test_rest_assignment_of_an_unknown_or_foreign_conversation_is_404(
    api: AppClient, team: Team
) -> None:
    async with visitor(api, team.chatbot["slug"]) as (guest, conversation_id):
        await visitor_writes(guest, "hello")
    body = {"assignee_id": None}
    for path, headers in (
        (f"/api/conversations/{conversation_id}/", team.outsider.headers),
        ("/api/conversations/no-such-conversation/", team.owner.headers),
        (f"/api/conversations/{conversation_id}", team.outsider.headers),
    ):
        response = await api.patch(path, json=body, headers=headers)
        assert (await error_of(response, 404))["code"] == "conversation_not_found"
    anonymous = await api.patch(f"/api/conversations/{conversation_id}/", json=body)
    assert anonymous.status == 401


async def test_members_are_told_when_a_member_comes_online_and_goes_offline(
    api: AppClient, team: Team
) -> None:
    agent_id = team.agent.user["id"]
    async with operator(api, team.owner) as owner:
        async with operator(api, team.agent) as first:
            await frame_where(owner, presence_of(agent_id, True))
            async with operator(api, team.agent):
                pass  # a second socket opened and closed: still online
            # Members are told about others, never about themselves.
            assert not [f for f in await frames_within(first, 0.3) if f["type"] == "presence"]
            presence = await api.get(
                f"/api/workspaces/{team.workspace_id}/presence/", headers=team.agent.headers
            )
            assert presence.status == 200
            online = {i["user_id"]: i["online"] for i in (await presence.json())["items"]}
            assert online == {
                team.owner.user["id"]: True,
                team.admin.user["id"]: False,
                agent_id: True,
            }
        await frame_where(owner, presence_of(agent_id, False))
        later = await frames_within(owner, 0.3)
        assert [f for f in later if f["type"] == "presence"] == []
    outsider = await api.get(
        f"/api/workspaces/{team.workspace_id}/presence/", headers=team.outsider.headers
    )
    assert (await error_of(outsider, 404))["code"] == "workspace_not_found"


async def test_a_request_for_a_person_with_nobody_online_gets_the_offline_answer(
    api: AppClient, team: Team
) -> None:
    async with visitor(api, team.chatbot["slug"]) as (guest, _):
        await visitor_writes(guest, "hello")
        await guest.send_json({"type": "handoff"})
        answer = await frame_where(
            guest, lambda f: f["type"] == "message" and f["message"]["text"] == OFFLINE_TEXT
        )
        assert answer["message"]["role"] == "bot"

    async with (
        operator(api, team.agent),
        visitor(api, team.chatbot["slug"]) as (guest, _),
    ):
        await visitor_writes(guest, "hello")
        await guest.send_json({"type": "handoff"})
        await frame_where(guest, lambda f: f["type"] == "status")
        heard = await frames_within(guest, 0.5)
        assert not [
            f for f in heard if f["type"] == "message" and f["message"]["text"] == OFFLINE_TEXT
        ], heard


async def test_a_removed_member_stops_hearing_the_workspace_and_cannot_act_in_it(
    api: AppClient, team: Team
) -> None:
    async with (
        operator(api, team.agent) as agent,
        visitor(api, team.chatbot["slug"]) as (guest, conversation_id),
    ):
        await visitor_writes(guest, "before")
        await frame_where(agent, lambda f: f["type"] == "message" and f["message"]["role"] == "bot")

        removed = await api.delete(
            f"/api/workspaces/{team.workspace_id}/members/{team.agent.user['id']}/",
            headers=team.owner.headers,
        )
        assert removed.status == 204

        await visitor_writes(guest, "after")
        heard = await frames_within(agent, 0.5)
        assert not [f for f in heard if f.get("type") == "message"], heard
        for frame in (
            {"type": "takeover", "conversation_id": conversation_id},
            {"type": "assign", "conversation_id": conversation_id, "user_id": None},
            {"type": "close", "conversation_id": conversation_id},
        ):
            await agent.send_json(frame)
            refused = await frame_where(agent, lambda f: f["type"] == "error")
            assert refused["code"] == "not_found"
