"""Two instances on one PostgreSQL database and one Redis: a deleted key dies everywhere at once."""

from __future__ import annotations

import time

from api_support import bearer, error_of
from apikeys_support import create_key, keys_path, signup

from chatbot import keys
from chatbot.apikeys.key_material import key_digest

from conftest import AppClient, ClientFactory


async def answers(client: AppClient, key: str) -> int:
    response = await client.get("/api/chatbots/", headers=bearer(key))
    await response.read()
    status: int = response.status
    return status


async def test_a_key_deleted_on_one_instance_is_refused_on_the_other_within_a_second(
    make_client: ClientFactory, postgres_url: str, redis_url: str
) -> None:
    first = await make_client(database_url=postgres_url, redis_url=redis_url)
    second = await make_client(database_url=postgres_url, redis_url=redis_url)
    owner = await signup(first)
    created = await create_key(first, owner)
    key = created["key"]
    # Both instances know the key now: each answers from what it remembers.
    for instance in (first, second, second):
        assert await answers(instance, key) == 200

    response = await first.delete(
        keys_path(owner.workspace_id) + created["id"] + "/", headers=owner.headers
    )
    assert response.status == 204
    deleted_at = time.monotonic()
    while (status := await answers(second, key)) == 200:
        assert time.monotonic() - deleted_at < 1.0, "instance two still accepts the deleted key"
    assert status == 401
    refused = await second.get("/api/chatbots/", headers=bearer(key))
    assert (await error_of(refused, 401))["code"] == "invalid_api_key"


async def test_a_lookup_that_raced_the_delete_cannot_bring_the_key_back(
    make_client: ClientFactory, postgres_url: str, redis_url: str
) -> None:
    """A lookup that read the row just before the delete may write it to the shared cache just
    after; every instance that heard of the delete still refuses the key."""
    first = await make_client(database_url=postgres_url, redis_url=redis_url)
    second = await make_client(database_url=postgres_url, redis_url=redis_url)
    owner = await signup(first)
    created = await create_key(first, owner)
    key = created["key"]
    assert await answers(second, key) == 200
    cache = first.app[keys.CACHE]
    entry = f"apikey:{key_digest(key)}"
    remembered = await cache.get(entry)
    assert remembered is not None

    response = await first.delete(
        keys_path(owner.workspace_id) + created["id"] + "/", headers=owner.headers
    )
    assert response.status == 204
    await cache.set(entry, remembered, 60)  # the late write of the racing lookup

    for instance in (first, second):
        assert await answers(instance, key) == 401
