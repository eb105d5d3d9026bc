"""`chatbot_by_slug` and `chatbot_by_id`: cached, and never stale after a change on any instance."""

from __future__ import annotations

import pytest
from chatbot_support import new_chatbot, signup
from sqlalchemy import update

from chatbot import keys
from chatbot.chatbots.lookup import chatbot_by_id, chatbot_by_slug
from chatbot.chatbots.origins import origin_allowed
from chatbot.storage.schema import chatbots

from conftest import AppClient, ClientFactory


async def test_lookups_return_the_full_record_with_the_provider_key(client: AppClient) -> None:
    owner = await signup(client)
    brain = {"type": "openai", "base_url": "https://x.example/v1", "model": "m", "api_key": "k"}
    bot = await new_chatbot(
        client,
        owner,
        slug="full-record",
        greeting="Hey",
        allowed_origins=["https://shop.example"],
        brain=brain,
        theme={"title": "Shop help"},
    )

    by_slug = await chatbot_by_slug(client.app, "full-record")
    by_id = await chatbot_by_id(client.app, bot["id"])

    assert by_slug == by_id
    assert by_slug is not None
    assert by_slug.id == bot["id"]
    assert by_slug.owner_id == owner.user["id"]
    assert by_slug.name == "Support"
    assert by_slug.greeting == "Hey"
    assert by_slug.allowed_origins == ("https://shop.example",)
    assert by_slug.brain == {**brain, "context_passages": 3}
    assert by_slug.theme["title"] == "Shop help"
    assert by_slug.created_at.utcoffset() is not None


async def test_unknown_and_malformed_slugs_and_ids_are_none(client: AppClient) -> None:
    for slug in ("no-such-bot", "", "UPPER", "a" * 500, "../etc"):
        assert await chatbot_by_slug(client.app, slug) is None
    for chatbot_id in ("no-such-id", "", "x" * 500):
        assert await chatbot_by_id(client.app, chatbot_id) is None


async def test_a_slug_looked_up_before_it_existed_is_found_once_created(
    client: AppClient,
) -> None:
    assert await chatbot_by_slug(client.app, "late-comer") is None
    await new_chatbot(client, await signup(client), slug="late-comer")

    found = await chatbot_by_slug(client.app, "late-comer")

    assert found is not None
    assert found.slug == "late-comer"


async def test_lookups_are_served_from_the_cache_and_api_changes_invalidate_it(
    make_client: ClientFactory, backend_redis_url: str
) -> None:
    client = await make_client(redis_url=backend_redis_url)
    owner = await signup(client)
    bot = await new_chatbot(client, owner, slug="cached-bot")
    assert (await chatbot_by_slug(client.app, "cached-bot")).name == "Support"  # type: ignore[union-attr]

    # A write behind the API's back is not seen: the lookup comes from the cache.
    async with client.app[keys.ENGINE].begin() as connection:
        await connection.execute(
            update(chatbots).where(chatbots.c.id == bot["id"]).values(name="Sneaky")
        )
    assert (await chatbot_by_slug(client.app, "cached-bot")).name == "Support"  # type: ignore[union-attr]

    # A write through the API is seen at once.
    await client.patch(
        f"/api/chatbots/{bot['id']}/", json={"greeting": "New"}, headers=owner.headers
    )
    fresh = await chatbot_by_slug(client.app, "cached-bot")
    assert fresh is not None
    assert (fresh.name, fresh.greeting) == ("Sneaky", "New")


async def test_a_change_on_one_instance_is_seen_by_the_other_at_once(
    make_client: ClientFactory, postgres_url: str, redis_url: str
) -> None:
    one = await make_client(database_url=postgres_url, redis_url=redis_url)
    two = await make_client(database_url=postgres_url, redis_url=redis_url)
    owner = await signup(one)
    bot = await new_chatbot(
        one, owner, slug="shared-bot", greeting="Hi", allowed_origins=["https://a.example"]
    )
    seen = await chatbot_by_slug(two.app, "shared-bot")
    assert seen is not None
    assert (seen.name, seen.greeting, seen.allowed_origins) == (
        "Support",
        "Hi",
        ("https://a.example",),
    )
    assert await chatbot_by_id(two.app, bot["id"]) == seen

    response = await one.patch(
        f"/api/chatbots/{bot['id']}/",
        json={"name": "Renamed", "greeting": "", "allowed_origins": ["https://b.example"]},
        headers=owner.headers,
    )
    assert response.status == 200

    for changed in (
        await chatbot_by_slug(two.app, "shared-bot"),
        await chatbot_by_id(two.app, bot["id"]),
    ):
        assert changed is not None
        assert (changed.name, changed.greeting) == ("Renamed", "")
        assert not origin_allowed("https://a.example", changed.allowed_origins)
        assert origin_allowed("https://b.example", changed.allowed_origins)

    await one.patch(
        f"/api/chatbots/{bot['id']}/", json={"slug": "moved-bot"}, headers=owner.headers
    )
    assert await chatbot_by_slug(two.app, "shared-bot") is None
    assert (await chatbot_by_slug(two.app, "moved-bot")) is not None

    assert (await one.delete(f"/api/chatbots/{bot['id']}/", headers=owner.headers)).status == 204
    assert await chatbot_by_slug(two.app, "moved-bot") is None
    assert await chatbot_by_id(two.app, bot["id"]) is None


@pytest.mark.parametrize(
    ("origin", "allowed", "verdict"),
    [
        (None, ("https://a.example",), True),  # not a browser: never refused for it
        ("https://evil.example", (), True),  # no list: any origin
        ("https://a.example", ("https://a.example",), True),
        ("HTTPS://A.EXAMPLE:443", ("https://a.example",), True),
        ("https://a.example:8443", ("https://a.example",), False),
        ("http://a.example", ("https://a.example",), False),
        ("https://evil.example", ("https://a.example",), False),
        ("null", ("https://a.example",), False),
        ("https://a.example.evil.example", ("https://a.example",), False),
    ],
)
def test_origin_allowed_matches_normalized_origins_exactly(
    origin: str | None, allowed: tuple[str, ...], verdict: bool
) -> None:
    assert origin_allowed(origin, allowed) is verdict
