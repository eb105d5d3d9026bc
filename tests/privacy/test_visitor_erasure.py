"""`DELETE /api/chatbots/{id}/visitors/{visitor_id}/`: the visitor is forgotten everywhere."""

from __future__ import annotations

import pytest
from api_support import error_of
from privacy_support import (
    chat,
    closed_with,
    frame_of_type,
    owner_with_chatbot,
    rows_of,
    say,
    visitor_chats,
    welcome_with_token,
)

from chatbot import keys

from conftest import AppClient, ClientFactory

CONVERSATION_GONE = 4004


@pytest.fixture
async def api(make_client: ClientFactory) -> AppClient:
    return await make_client()


@pytest.mark.both_stacks
async def test_erasure_deletes_the_rows_closes_the_socket_and_the_token_starts_afresh(
    api: AppClient,
) -> None:
    owner = await owner_with_chatbot(api)
    engine = api.app[keys.ENGINE]
    bob = await visitor_chats(api, owner.slug, "I am Bob")
    async with (
        api.ws_connect(f"/ws/chat/public/{owner.slug}/") as alice_socket,
        api.ws_connect("/ws/chat/agent/", headers=owner.headers) as operator,
    ):
        await frame_of_type(operator, "auth_ok")
        alice = await chat(alice_socket, "I am Alice", "call me at 555-0100")
        await alice_socket.send_json({"type": "identify", "data": {"phone": "555-0100"}})
        assert await rows_of(engine, alice.conversation_id) == (1, 5, False)

        response = await api.delete(owner.visitor_url(alice.visitor_id), headers=owner.headers)
        assert response.status == 204, await response.text()

        assert await closed_with(alice_socket) == CONVERSATION_GONE
        # Operators are told, and their socket stays open.
        erased = await frame_of_type(operator, "conversation_erased")
        assert erased == {"type": "conversation_erased", "conversation_id": alice.conversation_id}
        await operator.send_json({"type": "ping"})
        await frame_of_type(operator, "pong")
    assert await rows_of(engine, alice.conversation_id) == (0, 0, True)
    assert await rows_of(engine, bob.conversation_id) == (1, 3, False)

    welcome = await welcome_with_token(api, owner.slug, alice.visitor_token)
    assert welcome["conversation_id"] != alice.conversation_id
    assert welcome["visitor_token"] != alice.visitor_token
    assert welcome["visitor_id"] != alice.visitor_id
    assert welcome["last_seq"] == 0

    for response in (
        await api.get(owner.visitor_url(alice.visitor_id) + "export/", headers=owner.headers),
        await api.delete(owner.visitor_url(alice.visitor_id), headers=owner.headers),
    ):
        assert (await error_of(response, 404))["code"] == "visitor_not_found"
    # Bob is untouched.
    response = await api.get(owner.visitor_url(bob.visitor_id) + "export/", headers=owner.headers)
    assert response.status == 200


@pytest.mark.both_stacks
async def test_a_socket_that_never_saw_the_row_cannot_store_the_erased_conversation_again(
    api: AppClient,
) -> None:
    """A second tab opened before the first message holds the conversation as not stored yet:
    after the erasure its message must not bring the conversation back."""
    owner = await owner_with_chatbot(api)
    engine = api.app[keys.ENGINE]
    async with api.ws_connect(f"/ws/chat/public/{owner.slug}/") as first:
        alice = await chat(first)
        path = f"/ws/chat/public/{owner.slug}/?visitor_token={alice.visitor_token}"
        async with api.ws_connect(path) as second:
            await frame_of_type(second, "welcome")
            await say(first, "hello")  # stored by the first tab
            response = await api.delete(owner.visitor_url(alice.visitor_id), headers=owner.headers)
            assert response.status == 204
            assert await closed_with(first) == CONVERSATION_GONE
            assert await closed_with(second) == CONVERSATION_GONE
    assert await rows_of(engine, alice.conversation_id) == (0, 0, True)


async def test_erasure_answers_with_and_without_the_trailing_slash_and_refuses_bad_input(
    api: AppClient,
) -> None:
    owner = await owner_with_chatbot(api)
    stranger = await owner_with_chatbot(api)
    first = await visitor_chats(api, owner.slug, "one")
    second = await visitor_chats(api, owner.slug, "two")
    response = await api.delete(
        owner.visitor_url(first.visitor_id).rstrip("/"), headers=owner.headers
    )
    assert response.status == 204
    response = await api.delete(owner.visitor_url(second.visitor_id), headers=owner.headers)
    assert response.status == 204

    third = await visitor_chats(api, owner.slug, "three")
    for visitor_id in ("bad", "g" * 32, "0" * 32):
        response = await api.delete(owner.visitor_url(visitor_id), headers=owner.headers)
        assert (await error_of(response, 404))["code"] == "visitor_not_found"
    response = await api.delete(stranger.visitor_url(third.visitor_id), headers=stranger.headers)
    assert (await error_of(response, 404))["code"] == "visitor_not_found"
    url = f"/api/chatbots/{owner.chatbot['id']}/visitors/{third.visitor_id}/"
    response = await api.delete(url, headers=stranger.headers)
    assert (await error_of(response, 404))["code"] == "chatbot_not_found"
    await error_of(await api.delete(url), 401)
    assert await rows_of(api.app[keys.ENGINE], third.conversation_id) == (1, 3, False)


async def test_an_erased_visitor_socket_on_another_instance_is_closed(
    make_client: ClientFactory, postgres_url: str, redis_url: str
) -> None:
    one = await make_client(database_url=postgres_url, redis_url=redis_url)
    two = await make_client(database_url=postgres_url, redis_url=redis_url)
    owner = await owner_with_chatbot(one)
    async with (
        two.ws_connect(f"/ws/chat/public/{owner.slug}/") as alice_socket,
        two.ws_connect(f"/ws/chat/public/{owner.slug}/") as bob_socket,
    ):
        alice = await chat(alice_socket, "on instance two")
        bob = await chat(bob_socket, "me too")
        response = await one.delete(owner.visitor_url(alice.visitor_id), headers=owner.headers)
        assert response.status == 204
        assert await closed_with(alice_socket) == CONVERSATION_GONE
        await say(bob_socket, "still here")  # Bob's socket on the same instance goes on
    assert await rows_of(two.app[keys.ENGINE], alice.conversation_id) == (0, 0, True)
    assert await rows_of(two.app[keys.ENGINE], bob.conversation_id) == (1, 5, False)
    welcome = await welcome_with_token(two, owner.slug, alice.visitor_token)
    assert welcome["conversation_id"] != alice.conversation_id
