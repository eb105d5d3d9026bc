"""The inbox list and a conversation's messages, on SQLite and PostgreSQL, for conversations
made over the real sockets."""

from __future__ import annotations

from typing import Any

import pytest
from conversation_support import (
    GREETING,
    Owner,
    error_of,
    operator_acts,
    owner_with_chatbot,
    visitor_says,
)

from conftest import AppClient, ClientFactory


@pytest.fixture
async def api(make_client: ClientFactory, database_url: str) -> AppClient:
    return await make_client(database_url=database_url)


@pytest.fixture
async def owner(api: AppClient) -> Owner:
    return await owner_with_chatbot(api)


async def _messages(api: AppClient, owner: Owner, conversation: str) -> list[dict[str, Any]]:
    response = await api.get(f"/api/conversations/{conversation}/messages/", headers=owner.headers)
    items: list[dict[str, Any]] = (await response.json())["items"]
    return items


async def _inbox(api: AppClient, owner: Owner, query: str = "") -> list[dict[str, Any]]:
    response = await api.get(
        f"/api/chatbots/{owner.chatbot_id}/conversations/{query}", headers=owner.headers
    )
    body = await response.json()
    assert response.status == 200, body
    items: list[dict[str, Any]] = body["items"]
    return items


async def test_the_inbox_lists_conversations_newest_message_first(
    api: AppClient, owner: Owner
) -> None:
    old = await visitor_says(api, owner.slug, ["old"])
    middle = await visitor_says(api, owner.slug, ["mid"])
    new = await visitor_says(api, owner.slug, ["new"])
    await operator_acts(api, owner.headers, old, texts=("still there?",))

    items = await _inbox(api, owner)

    assert [item["id"] for item in items] == [old, new, middle]


async def test_a_conversation_appears_once_the_visitor_has_written(
    api: AppClient, owner: Owner
) -> None:
    async with api.ws_connect(f"/ws/chat/public/{owner.slug}/") as silent:
        assert (await silent.receive_json())["type"] == "welcome"
        assert (await silent.receive_json())["message"]["text"] == GREETING
    spoke = await visitor_says(api, owner.slug, ["Hi"])

    assert [item["id"] for item in await _inbox(api, owner)] == [spoke]


async def test_each_conversation_shows_its_status_times_and_latest_message(
    api: AppClient, owner: Owner
) -> None:
    conversation = await visitor_says(api, owner.slug, ["Can I talk to a person?"], handoff=True)
    messages = await _messages(api, owner, conversation)

    [item] = await _inbox(api, owner)

    assert item["id"] == conversation
    assert item["chatbot_id"] == owner.chatbot_id
    assert item["status"] == "waiting_for_human"
    assert item["started_at"] <= messages[0]["created_at"]
    assert item["last_message_at"] == messages[-1]["created_at"]
    assert item["last_seq"] == 3
    last = item["last_message"]
    assert (last["seq"], last["role"], last["text"]) == (3, "bot", "Can I talk to a person?")
    assert last["conversation_id"] == conversation


async def test_the_inbox_filters_by_status_and_pages_with_limit_and_before(
    api: AppClient, owner: Owner
) -> None:
    ids = []
    for n, status in enumerate(["bot", "human", "bot", "human", "closed"]):
        ids.append(await visitor_says(api, owner.slug, [f"#{n}"]))
        if status != "bot":
            await operator_acts(api, owner.headers, ids[-1], status=status)

    waiting = await _inbox(api, owner, "?status=human")
    first_page = await _inbox(api, owner, "?limit=2")
    cursor = first_page[-1]["last_message_at"].replace("+00:00", "Z")
    second_page = await _inbox(api, owner, f"?limit=2&before={cursor}")

    assert [item["id"] for item in waiting] == [ids[3], ids[1]]
    assert [item["id"] for item in first_page] == [ids[4], ids[3]]
    assert [item["id"] for item in second_page] == [ids[2], ids[1]]


async def test_conversations_of_the_owners_other_chatbot_are_not_listed(
    api: AppClient, owner: Owner
) -> None:
    mine = await visitor_says(api, owner.slug, ["here"])
    response = await api.post(
        "/api/chatbots/", json={"name": "Other", "brain": {"type": "echo"}}, headers=owner.headers
    )
    await visitor_says(api, (await response.json())["slug"], ["there"])

    assert [item["id"] for item in await _inbox(api, owner)] == [mine]


async def test_messages_come_in_seq_order_after_the_given_seq(api: AppClient, owner: Owner) -> None:
    conversation = await visitor_says(api, owner.slug, ["Price?"])
    await operator_acts(api, owner.headers, conversation, status="human", texts=("10 euros",))
    turns = [("bot", GREETING), ("visitor", "Price?"), ("bot", "Price?"), ("operator", "10 euros")]
    path = f"/api/conversations/{conversation}/messages"

    everything = await (await api.get(path, headers=owner.headers)).json()
    after_two = await (await api.get(f"{path}/?after=2", headers=owner.headers)).json()
    after_all = await (await api.get(f"{path}?after=4", headers=owner.headers)).json()

    assert [(m["seq"], m["role"], m["text"]) for m in everything["items"]] == [
        (n, role, text) for n, (role, text) in enumerate(turns, start=1)
    ]
    assert everything["has_more"] is False
    visitor = everything["items"][1]
    assert visitor == {
        "id": visitor["id"],
        "seq": 2,
        "conversation_id": conversation,
        "role": "visitor",
        "text": "Price?",
        "client_id": "c1",
        "created_at": visitor["created_at"],
    }
    assert visitor["created_at"].endswith("+00:00")
    assert after_two["items"] == everything["items"][2:]
    assert after_all == {"items": [], "has_more": False}


async def test_a_long_conversation_comes_in_pages(api: AppClient, owner: Owner) -> None:
    conversation = await visitor_says(api, owner.slug, [f"m{n}" for n in range(5)])
    path = f"/api/conversations/{conversation}/messages/"

    page = await (await api.get(f"{path}?limit=3", headers=owner.headers)).json()
    middle = await (await api.get(f"{path}?limit=3&after=3", headers=owner.headers)).json()
    rest = await (await api.get(f"{path}?limit=3&after=9", headers=owner.headers)).json()

    assert [m["seq"] for m in page["items"]] == [1, 2, 3]
    assert page["has_more"] is True
    assert [m["seq"] for m in middle["items"]] == [4, 5, 6]
    assert middle["has_more"] is True
    assert [m["seq"] for m in rest["items"]] == [10, 11]  # the greeting, then 5 questions
    assert rest["has_more"] is False


async def test_a_missing_conversation_answers_404(api: AppClient, owner: Owner) -> None:
    response = await api.get("/api/conversations/nope/messages/", headers=owner.headers)

    assert (await error_of(response, 404))["code"] == "conversation_not_found"


@pytest.mark.parametrize(
    "query",
    [
        "?limit=0",
        "?limit=201",
        "?limit=ten",
        "?before=yesterday",
        "?before=0.5",  # a number is not a time, although pydantic reads it as a timestamp
        "?before=2026-01-02",
        "?before=2026-01-02T03:04:05",  # RFC 3339 needs the offset
        "?before=2026-02-30T00:00:00Z",
        "?before=",
        "?status=sleeping",
        "?status=",
    ],
)
async def test_a_bad_inbox_query_answers_422(api: AppClient, owner: Owner, query: str) -> None:
    response = await api.get(
        f"/api/chatbots/{owner.chatbot_id}/conversations/{query}", headers=owner.headers
    )

    assert (await error_of(response, 422))["code"] == "validation_error"


@pytest.mark.parametrize(
    "before",
    ["2999-01-01T00:00:00Z", "2999-01-01t00:00:00.5z", "2999-01-01T01:00:00%2B01:00",
     "9999-12-31T23:59:59-23:59", "2998-12-31T23:59:60Z", "0000-01-01T00:00:00Z"],
)  # fmt: skip
async def test_any_rfc_3339_time_is_a_valid_cursor(
    api: AppClient, owner: Owner, before: str
) -> None:
    conversation = await visitor_says(api, owner.slug, ["hi"])

    listed = await _inbox(api, owner, f"?before={before}")

    assert [item["id"] for item in listed] == ([] if before.startswith("0000") else [conversation])


@pytest.mark.parametrize(
    "query", ["?after=-1", "?after=two", "?after=1.5", "?after=99999999999", "?limit=0"]
)
async def test_a_bad_messages_query_answers_422(api: AppClient, owner: Owner, query: str) -> None:
    conversation = await visitor_says(api, owner.slug, ["hi"])

    response = await api.get(
        f"/api/conversations/{conversation}/messages/{query}", headers=owner.headers
    )

    error = await error_of(response, 422)
    assert error["fields"][0]["field"] in {"after", "limit"}


async def test_unknown_query_parameters_are_ignored(api: AppClient, owner: Owner) -> None:
    conversation = await visitor_says(api, owner.slug, ["hi"])

    listed = await _inbox(api, owner, "?_=1700000000")
    response = await api.get(
        f"/api/conversations/{conversation}/messages/?after=0&_=1700000000", headers=owner.headers
    )

    assert [item["id"] for item in listed] == [conversation]
    assert [m["text"] for m in (await response.json())["items"]] == [GREETING, "hi", "hi"]
