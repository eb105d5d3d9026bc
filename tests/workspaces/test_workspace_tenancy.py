"""Chatbots belong to workspaces: registration makes one, members share its chatbots, and the
policy decides per role (agents read, only owners and admins change)."""

from __future__ import annotations

import pytest
from api_support import error_of
from visitor_support import visitor_says
from workspace_support import join, own_workspace, signup

from chatbot.workspaces.roles import Role

from conftest import AppClient, ClientFactory

pytestmark = pytest.mark.both_stacks


@pytest.fixture
async def api(make_client: ClientFactory) -> AppClient:
    return await make_client(brains={"semantic": False})


async def test_registration_makes_the_accounts_own_workspace_where_its_chatbots_go(
    api: AppClient,
) -> None:
    alice = await signup(api, "Alice")
    workspace_id = await own_workspace(api, alice)

    created = await api.post("/api/chatbots/", json={"name": "Support"}, headers=alice.headers)
    bot = await created.json()

    assert created.status == 201, bot
    assert bot["workspace_id"] == workspace_id
    listed = await (await api.get("/api/chatbots/", headers=alice.headers)).json()
    assert [item["id"] for item in listed["items"]] == [bot["id"]]


async def test_members_see_the_chatbots_of_every_workspace_they_belong_to(
    api: AppClient,
) -> None:
    alice, bob = await signup(api, "Alice"), await signup(api, "Bob")
    alices, bobs = await own_workspace(api, alice), await own_workspace(api, bob)
    alice_bot = await (
        await api.post("/api/chatbots/", json={"name": "A"}, headers=alice.headers)
    ).json()
    bob_bot = await (
        await api.post("/api/chatbots/", json={"name": "B"}, headers=bob.headers)
    ).json()
    await join(api, alices, bob, Role.AGENT)

    everything = await (await api.get("/api/chatbots/", headers=bob.headers)).json()
    narrowed = await (
        await api.get(f"/api/chatbots/?workspace_id={alices}", headers=bob.headers)
    ).json()
    alice_sees = await (await api.get("/api/chatbots/", headers=alice.headers)).json()

    assert {item["id"] for item in everything["items"]} == {alice_bot["id"], bob_bot["id"]}
    assert [item["id"] for item in narrowed["items"]] == [alice_bot["id"]]
    assert [item["id"] for item in alice_sees["items"]] == [alice_bot["id"]]
    # Alice is no member of Bob's workspace: it does not exist for her.
    refused = await api.get(f"/api/chatbots/?workspace_id={bobs}", headers=alice.headers)
    assert (await error_of(refused, 404))["code"] == "workspace_not_found"


async def test_a_chatbot_goes_to_the_named_workspace_where_the_caller_may_manage(
    api: AppClient,
) -> None:
    alice, bob, carol = [await signup(api, name) for name in ("Alice", "Bob", "Carol")]
    alices = await own_workspace(api, alice)
    await join(api, alices, bob, Role.ADMIN)
    await join(api, alices, carol, Role.AGENT)

    by_admin = await api.post(
        "/api/chatbots/", json={"name": "Shared", "workspace_id": alices}, headers=bob.headers
    )
    by_agent = await api.post(
        "/api/chatbots/", json={"name": "Nope", "workspace_id": alices}, headers=carol.headers
    )
    elsewhere = await api.post(
        "/api/chatbots/",
        json={"name": "Nope", "workspace_id": await own_workspace(api, carol)},
        headers=bob.headers,
    )

    assert by_admin.status == 201
    assert (await by_admin.json())["workspace_id"] == alices
    assert (await error_of(by_agent, 403))["code"] == "forbidden"
    assert (await error_of(elsewhere, 404))["code"] == "workspace_not_found"


async def test_an_agent_reads_a_workspaces_chatbots_and_conversations_but_changes_nothing(
    api: AppClient,
) -> None:
    alice, agent = await signup(api, "Alice"), await signup(api, "Agent")
    bot = await (
        await api.post(
            "/api/chatbots/", json={"name": "Support", "greeting": ""}, headers=alice.headers
        )
    ).json()
    await join(api, bot["workspace_id"], agent, Role.AGENT)
    conversation = await visitor_says(api, bot["slug"], ["hello"])

    read = await api.get(f"/api/chatbots/{bot['id']}/", headers=agent.headers)
    conversations = await api.get(
        f"/api/chatbots/{bot['id']}/conversations/", headers=agent.headers
    )
    history = await api.get(f"/api/conversations/{conversation}/messages/", headers=agent.headers)
    renamed = await api.patch(
        f"/api/chatbots/{bot['id']}/", json={"name": "Mine"}, headers=agent.headers
    )
    deleted = await api.delete(f"/api/chatbots/{bot['id']}/", headers=agent.headers)
    taught = await api.post(
        f"/api/chatbots/{bot['id']}/knowledge/",
        json={"question": "Q?", "answer": "A."},
        headers=agent.headers,
    )

    assert read.status == 200
    # An agent reads the chatbot but not its identity secret: that is for those who manage it.
    assert (await read.json()) == {**bot, "identity_secret": None}
    listed = (await conversations.json())["items"]
    assert [item["id"] for item in listed] == [conversation]
    assert listed[0]["workspace_id"] == bot["workspace_id"]
    assert (await history.json())["items"][0]["text"] == "hello"
    for refused in (renamed, deleted, taught):
        error = await error_of(refused, 403)
        assert error["code"] == "forbidden"
        assert "owners and admins" in error["message"]
    after = await (await api.get(f"/api/chatbots/{bot['id']}/", headers=alice.headers)).json()
    assert after == bot
