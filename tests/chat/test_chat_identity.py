"""Verified visitor identity on the visitor socket: the pair is checked before the upgrade, a
verified user keeps one conversation across devices, and nobody else reaches it.

Every test runs on SQLite with the in-process backends and on PostgreSQL with Redis; the last
one runs two instances (two apps, as in test_chat_cluster) on one PostgreSQL database and Redis.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import WSServerHandshakeError
from chat_helpers import (
    Tenant,
    create_chatbot,
    frame_of_type,
    frame_where,
    message_frame,
    next_frame,
    register,
    send_message,
)
from sqlalchemy import func, select

from chatbot import keys
from chatbot.storage.schema import conversations, messages

from conftest import AppClient, ClientFactory

AGENT_PATH = "/ws/chat/agent/"
GREETING = "Hello!"
USER = "user-42"


def user_hash(secret: str, user_id: str) -> str:
    """What the site's backend computes (docs/identity.md), written out independently."""
    return hmac.new(secret.encode("utf-8"), user_id.encode("utf-8"), hashlib.sha256).hexdigest()


def path_of(
    slug: str,
    *,
    user_id: str | None = None,
    user_hash: str | None = None,
    visitor_token: str | None = None,
) -> str:
    query = {
        name: value
        for name, value in (
            ("user_id", user_id),
            ("user_hash", user_hash),
            ("visitor_token", visitor_token),
        )
        if value is not None
    }
    return f"/ws/chat/public/{slug}/" + (f"?{urlencode(query)}" if query else "")


def as_user(chatbot: dict[str, Any], user_id: str = USER, **extra: str) -> str:
    """The socket path of a visitor the site verified as `user_id`."""
    secret = chatbot["identity_secret"]
    return path_of(chatbot["slug"], user_id=user_id, user_hash=user_hash(secret, user_id), **extra)


async def identity_chatbot(client: AppClient, mode: str) -> tuple[Tenant, dict[str, Any]]:
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting=GREETING, identity_verification=mode)
    return tenant, chatbot


async def row_counts(client: AppClient) -> tuple[int, int]:
    """(conversations, messages) stored in the app's database."""
    async with client.app[keys.ENGINE].connect() as connection:
        stored = await connection.scalar(select(func.count()).select_from(conversations))
        written = await connection.scalar(select(func.count()).select_from(messages))
    return int(stored or 0), int(written or 0)


async def stored_user(client: AppClient, conversation_id: str) -> Any:
    async with client.app[keys.ENGINE].connect() as connection:
        return await connection.scalar(
            select(conversations.c.user_id).where(conversations.c.id == conversation_id)
        )


def upgrade_headers() -> dict[str, str]:
    return {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
    }


async def history(ws: Any) -> list[tuple[int, str, str]]:
    """Every message the socket's conversation holds, as (seq, role, text): what arrived since
    the welcome (a new conversation's greeting) and a resume from the start."""
    await ws.send_json({"type": "resume", "after": 0})
    seen: dict[int, tuple[int, str, str]] = {}
    while (frame := await next_frame(ws))["type"] != "resumed":
        if frame["type"] == "message":
            m = frame["message"]
            seen[m["seq"]] = (m["seq"], m["role"], m["text"])
    return sorted(seen.values())


async def say(ws: Any, text: str) -> None:
    """A visitor message, acknowledged and answered by the echo brain."""
    client_id = await send_message(ws, text)
    await message_frame(ws, "visitor", client_id=client_id)
    await message_frame(ws, "bot", text=text)


@pytest.mark.both_stacks
async def test_required_refuses_a_missing_or_wrong_pair_with_403_before_anything_is_stored(
    client: AppClient,
) -> None:
    _, chatbot = await identity_chatbot(client, "required")
    _, other = await identity_chatbot(client, "required")
    slug, secret = chatbot["slug"], chatbot["identity_secret"]
    long_id = "u" * 256
    refused = {
        "nothing": path_of(slug),
        "user_id alone": path_of(slug, user_id=USER),
        "user_hash alone": path_of(slug, user_hash=user_hash(secret, USER)),
        "empty pair": path_of(slug, user_id="", user_hash=""),
        "wrong hash": path_of(slug, user_id=USER, user_hash="0" * 64),
        "another user's hash": path_of(slug, user_id=USER, user_hash=user_hash(secret, "user-7")),
        "another chatbot's secret": as_user(other | {"slug": slug}),
        "a hash cut short": path_of(slug, user_id=USER, user_hash=user_hash(secret, USER)[:-1]),
        "a hash too long": path_of(slug, user_id=USER, user_hash=user_hash(secret, USER) + "0"),
        "a non-ASCII hash": path_of(slug, user_id=USER, user_hash="é" * 64),
        "a user_id over 255 characters": path_of(
            slug, user_id=long_id, user_hash=user_hash(secret, long_id)
        ),
        "the secret itself": path_of(slug, user_id=USER, user_hash=secret),
    }

    for case, path in refused.items():
        response = await client.get(path, headers=upgrade_headers())
        body = await response.json()
        assert response.status == 403, (case, body)
        assert body["error"]["code"] == "identity_required", case
        assert body["error"]["message"], case
    with pytest.raises(WSServerHandshakeError) as failed:
        await client.ws_connect(path_of(slug, user_id=USER, user_hash="0" * 64))
    assert failed.value.status == 403
    assert await row_counts(client) == (0, 0)

    async with client.ws_connect(as_user(chatbot)) as ws:
        welcome = await next_frame(ws)
        assert welcome["identified"] is True
        assert (await message_frame(ws, "bot"))["message"]["text"] == GREETING
        assert await row_counts(client) == (0, 0)  # nothing stored before a visitor message
        await say(ws, "hello")
    assert await row_counts(client) == (1, 3)
    assert await stored_user(client, welcome["conversation_id"]) == USER


@pytest.mark.both_stacks
@pytest.mark.parametrize("mode", ["optional", "required"])
@pytest.mark.both_stacks
async def test_a_verified_user_resumes_their_conversation_from_a_second_device(
    client: AppClient, mode: str
) -> None:
    tenant, chatbot = await identity_chatbot(client, mode)

    async with client.ws_connect(AGENT_PATH, headers=tenant.headers) as agent:
        assert (await next_frame(agent))["type"] == "auth_ok"
        async with client.ws_connect(as_user(chatbot)) as phone:
            first = await next_frame(phone)
            await say(phone, "hello from the phone")
            started = await frame_of_type(agent, "conversation")

            async with client.ws_connect(as_user(chatbot)) as laptop:  # no visitor token
                second = await next_frame(laptop)
                seen_on_laptop = await history(laptop)
                await say(laptop, "and from the laptop")
                seen_on_phone = await message_frame(phone, "visitor", text="and from the laptop")

    assert first["identified"] is second["identified"] is True
    assert second["conversation_id"] == first["conversation_id"]
    assert second["last_seq"] == 3
    assert second["visitor_token"] != first["visitor_token"]
    assert seen_on_laptop == [
        (1, "bot", GREETING),
        (2, "visitor", "hello from the phone"),
        (3, "bot", "hello from the phone"),
    ]
    assert seen_on_phone["message"]["seq"] == 4
    assert started["conversation"]["user_id"] == USER
    listed = await client.get(
        f"/api/chatbots/{chatbot['id']}/conversations/", headers=tenant.headers
    )
    items = (await listed.json())["items"]
    assert [(item["id"], item["user_id"]) for item in items] == [(first["conversation_id"], USER)]

    # Each device's own token resumes the conversation too.
    for token in (first["visitor_token"], second["visitor_token"]):
        async with client.ws_connect(as_user(chatbot, visitor_token=token)) as again:
            resumed = await next_frame(again)
            assert resumed["conversation_id"] == first["conversation_id"]
            assert resumed["last_seq"] == 5


@pytest.mark.both_stacks
async def test_a_wrong_hash_for_an_existing_user_never_sees_their_messages(
    client: AppClient,
) -> None:
    _, chatbot = await identity_chatbot(client, "optional")
    slug = chatbot["slug"]
    async with client.ws_connect(as_user(chatbot)) as ws:
        owner_welcome = await next_frame(ws)
        await say(ws, "my order number is 1234")
    stolen_token = owner_welcome["visitor_token"]
    wrong = user_hash(chatbot["identity_secret"], "user-7")
    attempts = {
        "a wrong hash": path_of(slug, user_id=USER, user_hash=wrong),
        "a user_id alone": path_of(slug, user_id=USER),
        "the user's token without the pair": path_of(slug, visitor_token=stolen_token),
        "the user's token with a wrong hash": path_of(
            slug, user_id=USER, user_hash=wrong, visitor_token=stolen_token
        ),
        "another verified user with the token": as_user(
            chatbot, "user-7", visitor_token=stolen_token
        ),
    }

    for case, path in attempts.items():
        async with client.ws_connect(path) as ws:
            welcome = await next_frame(ws)
            assert welcome["conversation_id"] != owner_welcome["conversation_id"], case
            assert welcome["last_seq"] == 0, case
            assert welcome["identified"] is ("another verified" in case), case
            assert await history(ws) == [(1, "bot", GREETING)], case
            await say(ws, f"written with {case}")
            assert (await stored_user(client, welcome["conversation_id"])) == (
                "user-7" if "another verified" in case else None
            ), case

    async with client.ws_connect(as_user(chatbot)) as ws:
        welcome = await next_frame(ws)
        assert welcome["conversation_id"] == owner_welcome["conversation_id"]
        assert await history(ws) == [
            (1, "bot", GREETING),
            (2, "visitor", "my order number is 1234"),
            (3, "bot", "my order number is 1234"),
        ]


@pytest.mark.both_stacks
async def test_a_closed_conversation_is_not_resumed_on_another_device(
    client: AppClient,
) -> None:
    tenant, chatbot = await identity_chatbot(client, "required")
    async with client.ws_connect(as_user(chatbot)) as ws:
        first = await next_frame(ws)
        await say(ws, "first question")
    async with client.ws_connect(AGENT_PATH, headers=tenant.headers) as agent:
        assert (await next_frame(agent))["type"] == "auth_ok"
        await agent.send_json({"type": "close", "conversation_id": first["conversation_id"]})
        await frame_where(
            agent,
            lambda f: f["type"] == "conversation" and f["conversation"]["status"] == "closed",
        )

    async with client.ws_connect(as_user(chatbot)) as ws:
        fresh = await next_frame(ws)
        await say(ws, "second question")
    async with client.ws_connect(as_user(chatbot)) as ws:
        latest = await next_frame(ws)

    assert fresh["conversation_id"] != first["conversation_id"]
    assert fresh["last_seq"] == 0
    assert latest["conversation_id"] == fresh["conversation_id"]
    assert latest["last_seq"] == 3


@pytest.mark.both_stacks
async def test_rotating_the_secret_invalidates_the_old_hashes(client: AppClient) -> None:
    tenant, chatbot = await identity_chatbot(client, "required")
    old_path = as_user(chatbot)
    async with client.ws_connect(old_path) as ws:
        first = await next_frame(ws)
        await say(ws, "before the rotation")

    rotated = await client.post(
        f"/api/chatbots/{chatbot['id']}/identity-secret/", headers=tenant.headers
    )
    new_secret = (await rotated.json())["identity_secret"]

    refused = await client.get(old_path, headers=upgrade_headers())
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "identity_required"
    async with client.ws_connect(as_user(chatbot | {"identity_secret": new_secret})) as ws:
        welcome = await next_frame(ws)
    assert welcome["identified"] is True
    assert welcome["conversation_id"] == first["conversation_id"]  # the user is the same


@pytest.mark.both_stacks
async def test_with_verification_off_a_pair_is_ignored(client: AppClient) -> None:
    _, chatbot = await identity_chatbot(client, "off")
    garbage = path_of(chatbot["slug"], user_id=USER, user_hash="not a hash")

    for path in (as_user(chatbot), garbage):
        async with client.ws_connect(path) as ws:
            welcome = await next_frame(ws)
            await say(ws, "hello")
        assert welcome["identified"] is False
        assert await stored_user(client, welcome["conversation_id"]) is None


@pytest.mark.both_stacks
async def test_identify_gives_the_verified_users_name_and_email(client: AppClient) -> None:
    _, chatbot = await identity_chatbot(client, "optional")
    async with client.ws_connect(as_user(chatbot)) as ws:
        welcome = await next_frame(ws)
        await ws.send_json(
            {"type": "identify", "data": {"name": "Ada Lovelace", "email": "ada@example.com"}}
        )
        await say(ws, "hello")

    async with client.app[keys.ENGINE].connect() as connection:
        row = (
            await connection.execute(
                select(conversations.c.user_id, conversations.c.visitor_data).where(
                    conversations.c.id == welcome["conversation_id"]
                )
            )
        ).one()
    assert row.user_id == USER
    assert row.visitor_data == {"name": "Ada Lovelace", "email": "ada@example.com"}


async def test_on_two_instances_a_second_device_resumes_and_a_rotation_holds_everywhere(
    make_client: ClientFactory, postgres_url: str, redis_url: str
) -> None:
    one = await make_client(database_url=postgres_url, redis_url=redis_url)
    two = await make_client(database_url=postgres_url, redis_url=redis_url)
    tenant, chatbot = await identity_chatbot(one, "required")
    async with two.ws_connect(as_user(chatbot)) as ws:  # the chatbot is cached on two now
        first = await next_frame(ws)
        await say(ws, "on instance two")
    async with one.ws_connect(as_user(chatbot)) as ws:
        second = await next_frame(ws)
        seen = await history(ws)

    rotated = await one.post(
        f"/api/chatbots/{chatbot['id']}/identity-secret/", headers=tenant.headers
    )
    assert rotated.status == 200
    refused = await two.get(as_user(chatbot), headers=upgrade_headers())

    assert second["conversation_id"] == first["conversation_id"]
    assert seen[-1] == (3, "bot", "on instance two")
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "identity_required"
