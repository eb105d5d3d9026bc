"""The inbox list and a conversation's messages, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from conversation_support import Owner, add_conversation, error_of, owner_with_chatbot

from conftest import AppClient, ClientFactory


@pytest.fixture
async def api(make_client: ClientFactory, database_url: str) -> AppClient:
    return await make_client(database_url=database_url)


@pytest.fixture
async def owner(api: AppClient) -> Owner:
    return await owner_with_chatbot(api)


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
    old = await add_conversation(api, owner.chatbot_id, [("visitor", "old")], minute=1)
    new = await add_conversation(api, owner.chatbot_id, [("visitor", "new")], minute=5)
    middle = await add_conversation(
        api, owner.chatbot_id, [("bot", "Hi!"), ("visitor", "mid"), ("bot", "Sure.")], minute=3
    )

    items = await _inbox(api, owner)

    assert [item["id"] for item in items] == [new, middle, old]


async def test_a_conversation_appears_once_the_visitor_has_written(
    api: AppClient, owner: Owner
) -> None:
    await add_conversation(api, owner.chatbot_id, [], minute=1)
    await add_conversation(api, owner.chatbot_id, [("bot", "Hello! How can I help?")], minute=2)
    spoke = await add_conversation(
        api, owner.chatbot_id, [("bot", "Hello!"), ("visitor", "Hi")], minute=3
    )

    assert [item["id"] for item in await _inbox(api, owner)] == [spoke]


async def test_each_conversation_shows_its_status_times_and_latest_message(
    api: AppClient, owner: Owner
) -> None:
    conversation = await add_conversation(
        api,
        owner.chatbot_id,
        [("visitor", "Can I talk to a person?"), ("bot", "Someone is coming.")],
        status="waiting_for_human",
    )

    [item] = await _inbox(api, owner)

    assert item["id"] == conversation
    assert item["chatbot_id"] == owner.chatbot_id
    assert item["status"] == "waiting_for_human"
    assert item["started_at"] == "2026-01-01T12:00:00+00:00"
    assert item["last_message_at"] == "2026-01-01T12:00:02+00:00"
    assert item["last_seq"] == 2
    last = item["last_message"]
    assert (last["seq"], last["role"], last["text"]) == (2, "bot", "Someone is coming.")
    assert last["conversation_id"] == conversation


async def test_the_inbox_filters_by_status_and_pages_with_limit_and_before(
    api: AppClient, owner: Owner
) -> None:
    ids = [
        await add_conversation(
            api, owner.chatbot_id, [("visitor", f"#{n}")], minute=n, status=status
        )
        for n, status in enumerate(["bot", "human", "bot", "human", "closed"])
    ]

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
    mine = await add_conversation(api, owner.chatbot_id, [("visitor", "here")])
    response = await api.post("/api/chatbots/", json={"name": "Other"}, headers=owner.headers)
    await add_conversation(api, (await response.json())["id"], [("visitor", "there")])

    assert [item["id"] for item in await _inbox(api, owner)] == [mine]


async def test_messages_come_in_seq_order_after_the_given_seq(api: AppClient, owner: Owner) -> None:
    turns = [("bot", "Hi"), ("visitor", "Price?"), ("bot", "10 euros"), ("operator", "Hello")]
    conversation = await add_conversation(api, owner.chatbot_id, turns)
    path = f"/api/conversations/{conversation}/messages"

    everything = await (await api.get(path, headers=owner.headers)).json()
    after_two = await (await api.get(f"{path}/?after=2", headers=owner.headers)).json()
    after_all = await (await api.get(f"{path}?after=4", headers=owner.headers)).json()

    assert [(m["seq"], m["role"], m["text"]) for m in everything["items"]] == [
        (n, role, text) for n, (role, text) in enumerate(turns, start=1)
    ]
    assert everything["has_more"] is False
    assert everything["items"][1] == {
        "id": everything["items"][1]["id"],
        "seq": 2,
        "conversation_id": conversation,
        "role": "visitor",
        "text": "Price?",
        "client_id": "c2",
        "created_at": "2026-01-01T12:00:02+00:00",
    }
    assert after_two["items"] == everything["items"][2:]
    assert after_all == {"items": [], "has_more": False}


async def test_a_long_conversation_comes_in_pages(api: AppClient, owner: Owner) -> None:
    conversation = await add_conversation(
        api, owner.chatbot_id, [("visitor", f"m{n}") for n in range(5)]
    )
    path = f"/api/conversations/{conversation}/messages/"

    page = await (await api.get(f"{path}?limit=3", headers=owner.headers)).json()
    rest = await (await api.get(f"{path}?limit=3&after=3", headers=owner.headers)).json()

    assert [m["seq"] for m in page["items"]] == [1, 2, 3]
    assert page["has_more"] is True
    assert [m["seq"] for m in rest["items"]] == [4, 5]
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
    conversation = await add_conversation(api, owner.chatbot_id, [("visitor", "hi")])

    listed = await _inbox(api, owner, f"?before={before}")

    assert [item["id"] for item in listed] == ([] if before.startswith("0000") else [conversation])


@pytest.mark.parametrize(
    "query", ["?after=-1", "?after=two", "?after=1.5", "?after=99999999999", "?limit=0"]
)
async def test_a_bad_messages_query_answers_422(api: AppClient, owner: Owner, query: str) -> None:
    conversation = await add_conversation(api, owner.chatbot_id, [("visitor", "hi")])

    response = await api.get(
        f"/api/conversations/{conversation}/messages/{query}", headers=owner.headers
    )

    error = await error_of(response, 422)
    assert error["fields"][0]["field"] in {"after", "limit"}


async def test_unknown_query_parameters_are_ignored(api: AppClient, owner: Owner) -> None:
    conversation = await add_conversation(api, owner.chatbot_id, [("visitor", "hi")])

    listed = await _inbox(api, owner, "?_=1700000000")
    response = await api.get(
        f"/api/conversations/{conversation}/messages/?after=0&_=1700000000", headers=owner.headers
    )

    assert [item["id"] for item in listed] == [conversation]
    assert [m["text"] for m in (await response.json())["items"]] == ["hi"]
