"""`GET /api/chatbots/{id}/visitors/{visitor_id}/export/`: exactly one visitor's data."""

from __future__ import annotations

from typing import Any

import pytest
from api_support import error_of
from privacy_support import Owner, chat, owner_with_chatbot, visitor_chats

from conftest import AppClient, ClientFactory


@pytest.fixture
async def api(make_client: ClientFactory) -> AppClient:
    return await make_client()


async def _export(api: AppClient, owner: Owner, visitor_id: str) -> dict[str, Any]:
    response = await api.get(owner.visitor_url(visitor_id) + "export/", headers=owner.headers)
    body: dict[str, Any] = await response.json()
    assert response.status == 200, body
    return body


@pytest.mark.both_stacks
async def test_the_export_holds_exactly_the_visitors_messages(api: AppClient) -> None:
    owner = await owner_with_chatbot(api)
    alice = await visitor_chats(api, owner.slug, "I am Alice", "my order is 1234")
    bob = await visitor_chats(api, owner.slug, "I am Bob")
    # Alice comes back with her token: the same conversation, one more message.
    path = f"/ws/chat/public/{owner.slug}/?visitor_token={alice.visitor_token}"
    async with api.ws_connect(path) as ws:
        again = await chat(ws, "still Alice")
        await ws.send_json({"type": "identify", "data": {"email": "alice@example.com"}})
    assert again == alice

    exported = await _export(api, owner, alice.visitor_id)

    assert exported["visitor_id"] == alice.visitor_id
    assert exported["user_id"] is None
    [conversation] = exported["conversations"]
    assert conversation["id"] == alice.conversation_id
    assert conversation["visitor_id"] == alice.visitor_id
    assert conversation["chatbot_id"] == owner.chatbot["id"]
    texts = [(m["role"], m["text"]) for m in conversation["messages"]]
    assert texts == [
        ("bot", "Hello!"),
        ("visitor", "I am Alice"),
        ("bot", "I am Alice"),
        ("visitor", "my order is 1234"),
        ("bot", "my order is 1234"),
        ("visitor", "still Alice"),
        ("bot", "still Alice"),
    ]
    assert [m["seq"] for m in conversation["messages"]] == list(range(1, 8))
    assert all(m["conversation_id"] == alice.conversation_id for m in conversation["messages"])
    assert "Bob" not in str(exported)
    bobs = await _export(api, owner, bob.visitor_id)
    assert [m["text"] for m in bobs["conversations"][0]["messages"]][1:] == ["I am Bob"] * 2


async def test_visitor_ids_appear_on_conversations_and_differ_per_visitor(api: AppClient) -> None:
    owner = await owner_with_chatbot(api)
    alice = await visitor_chats(api, owner.slug, "hi")
    bob = await visitor_chats(api, owner.slug, "hello")
    response = await api.get(
        f"/api/chatbots/{owner.chatbot['id']}/conversations/", headers=owner.headers
    )
    listed = {item["id"]: item["visitor_id"] for item in (await response.json())["items"]}
    assert listed == {alice.conversation_id: alice.visitor_id, bob.conversation_id: bob.visitor_id}
    assert alice.visitor_id != bob.visitor_id
    assert all(len(v) == 32 and int(v, 16) >= 0 for v in listed.values())
    assert alice.visitor_id not in alice.visitor_token  # the id reveals nothing of the token


async def test_the_export_answers_with_and_without_the_trailing_slash(api: AppClient) -> None:
    owner = await owner_with_chatbot(api)
    alice = await visitor_chats(api, owner.slug, "hi")
    url = owner.visitor_url(alice.visitor_id) + "export"
    for path in (url, url + "/"):
        response = await api.get(path, headers=owner.headers, allow_redirects=False)
        assert response.status == 200, await response.text()
        assert (await response.json())["visitor_id"] == alice.visitor_id


async def test_bad_and_unknown_visitors_and_chatbots_answer_clear_errors(api: AppClient) -> None:
    owner = await owner_with_chatbot(api)
    stranger = await owner_with_chatbot(api)
    alice = await visitor_chats(api, owner.slug, "hi")
    chatbot_id = owner.chatbot["id"]
    cases = {
        "not-an-id": "visitor_not_found",
        "0" * 32: "visitor_not_found",  # well formed, nobody
        alice.visitor_id.upper(): "visitor_not_found",
        alice.visitor_id + "0": "visitor_not_found",
        "%00": "visitor_not_found",
    }
    for visitor_id, code in cases.items():
        response = await api.get(
            f"/api/chatbots/{chatbot_id}/visitors/{visitor_id}/export/", headers=owner.headers
        )
        error = await error_of(response, 404)
        assert error["code"] == code, (visitor_id, error)
        assert "visitor" in error["message"]
    # Another tenant's chatbot, or one that does not exist, is the same 404.
    for headers, chatbot in ((stranger.headers, chatbot_id), (owner.headers, "nope")):
        response = await api.get(
            f"/api/chatbots/{chatbot}/visitors/{alice.visitor_id}/export/", headers=headers
        )
        assert (await error_of(response, 404))["code"] == "chatbot_not_found"
    # Another chatbot's visitor is not this chatbot's.
    response = await api.get(
        stranger.visitor_url(alice.visitor_id) + "export/", headers=stranger.headers
    )
    assert (await error_of(response, 404))["code"] == "visitor_not_found"
    response = await api.get(owner.visitor_url(alice.visitor_id) + "export/")
    await error_of(response, 401)
