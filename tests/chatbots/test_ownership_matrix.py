"""Another user's chatbots, knowledge and conversations answer 404 exactly like missing ones,
and every protected route answers 401 without a token."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiohttp import FormData
from chatbot_support import Account, error_of, new_chatbot, signup
from visitor_support import visitor_says

from chatbot import keys
from chatbot.openapi.generator import openapi_path
from chatbot.storage.values import new_id

from conftest import AppClient, ClientFactory


def _upload() -> FormData:
    form = FormData()
    form.add_field("file", b"Opening hours are 9 to 5.", filename="hours.txt")
    return form


# (method, path template, body): {bot}, {entry}, {conversation} and {visitor} are filled in.
ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/api/chatbots/{bot}/", None),
    ("PATCH", "/api/chatbots/{bot}/", {"name": "Taken over"}),
    ("DELETE", "/api/chatbots/{bot}/", None),
    ("POST", "/api/chatbots/{bot}/identity-secret/", None),
    ("GET", "/api/chatbots/{bot}/knowledge/", None),
    ("POST", "/api/chatbots/{bot}/knowledge/", {"question": "Q?", "answer": "A."}),
    ("POST", "/api/chatbots/{bot}/knowledge/upload/", _upload),
    ("POST", "/api/chatbots/{bot}/knowledge/test/", {"question": "When are you open?"}),
    ("GET", "/api/chatbots/{bot}/knowledge/{entry}/", None),
    ("PATCH", "/api/chatbots/{bot}/knowledge/{entry}/", {"answer": "Changed."}),
    ("DELETE", "/api/chatbots/{bot}/knowledge/{entry}/", None),
    ("GET", "/api/chatbots/{bot}/conversations/", None),
    ("GET", "/api/conversations/{conversation}/messages/", None),
    ("GET", "/api/chatbots/{bot}/visitors/{visitor}/export/", None),
    ("DELETE", "/api/chatbots/{bot}/visitors/{visitor}/", None),
]


async def _call(
    client: AppClient, account: Account | None, method: str, path: str, body: Any
) -> Any:
    headers = account.headers if account else {}
    if callable(body):
        return await client.request(method, path, data=body(), headers=headers)
    return await client.request(method, path, json=body, headers=headers)


@pytest.fixture
async def api(make_client: ClientFactory) -> AppClient:
    return await make_client(brains={"semantic": False})


@pytest.mark.parametrize(
    ("method", "template", "body"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES]
)
async def test_another_users_objects_answer_404_exactly_like_missing_ones(
    api: AppClient, method: str, template: str, body: Any
) -> None:
    alice, bob = await signup(api, "Alice"), await signup(api, "Bob")
    bot = await new_chatbot(api, alice, greeting="")
    entry_response = await api.post(
        f"/api/chatbots/{bot['id']}/knowledge/",
        json={"question": "When are you open?", "answer": "9 to 5."},
        headers=alice.headers,
    )
    entry = await entry_response.json()
    conversation = await visitor_says(api, bot["slug"], ["hello"])
    listed = await api.get(f"/api/chatbots/{bot['id']}/conversations/", headers=alice.headers)
    visitor = (await listed.json())["items"][0]["visitor_id"]
    theirs = {"bot": bot["id"], "entry": entry["id"], "conversation": conversation}
    missing = {name: str(uuid.uuid4()) for name in theirs}
    theirs["visitor"], missing["visitor"] = visitor, uuid.uuid4().hex
    await new_chatbot(api, bob)  # Bob has chatbots of his own: ownership, not emptiness

    foreign = await _call(api, bob, method, template.format(**theirs), body)
    absent = await _call(api, bob, method, template.format(**missing), body)

    foreign_error = await error_of(foreign, 404)
    absent_error = await error_of(absent, 404)
    message = foreign_error["message"]
    for name, value in theirs.items():
        message = message.replace(value, missing[name])
    assert {**foreign_error, "message": message} == absent_error
    # Nothing of Alice's changed.
    after = await (await api.get(f"/api/chatbots/{bot['id']}/", headers=alice.headers)).json()
    assert after == bot
    knowledge = await api.get(f"/api/chatbots/{bot['id']}/knowledge/", headers=alice.headers)
    assert (await knowledge.json())["items"] == [entry]


async def test_every_chatbot_knowledge_and_conversation_route_answers_401_without_a_token(
    api: AppClient,
) -> None:
    alice = await signup(api)
    bot = await new_chatbot(api, alice)
    ids = {
        "chatbot_id": bot["id"],
        "entry_id": new_id(),
        "conversation_id": new_id(),
        "visitor_id": uuid.uuid4().hex,
    }
    ours = [
        route
        for route in api.app[keys.ROUTES].routes
        if route.path.startswith(("/api/chatbots/", "/api/conversations/"))
    ]
    assert len(ours) >= len(ROUTES) + 2  # every route of the matrix, plus create and list

    for route in ours:
        path = openapi_path(route.path).format(**ids)
        for variant in (path, path.rstrip("/")):
            for headers in ({}, {"Authorization": "Bearer not-a-token"}):
                response = await api.request(route.method, variant, json={}, headers=headers)
                error = await error_of(response, 401)
                assert error["code"] in {"not_authenticated", "invalid_token"}, (route, error)
    # Nothing was created without a token.
    listed = await (await api.get("/api/chatbots/", headers=alice.headers)).json()
    assert [item["id"] for item in listed["items"]] == [bot["id"]]
