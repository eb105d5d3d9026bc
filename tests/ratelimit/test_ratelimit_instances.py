"""Limits hold across instances sharing Redis, and survive Redis going away and coming back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ratelimit_support import limits, login_status, register, unique_email

from conftest import AppClient, ClientFactory
from support import RedisServer


async def test_concurrent_logins_on_two_instances_admit_at_most_the_limit(
    make_client: ClientFactory, postgres_url: str, redis_url: str
) -> None:
    settings: dict[str, Any] = {
        "database_url": postgres_url,
        "redis_url": redis_url,
        "rate_limits": limits(login_per_address="5/minute"),
    }
    first = await make_client(**settings)
    second = await make_client(**settings)
    statuses = await asyncio.gather(
        *(login_status((first, second)[n % 2], unique_email()) for n in range(50))
    )
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) == 5
    assert statuses.count(429) == 45


async def test_without_redis_each_instance_counts_for_itself(
    make_client: ClientFactory, postgres_url: str
) -> None:
    """The contrast that shows the test above is about Redis: two memory backends admit 2x."""
    settings: dict[str, Any] = {
        "database_url": postgres_url,
        "rate_limits": limits(login_per_address="3/minute"),
    }
    first = await make_client(**settings)
    second = await make_client(**settings)
    statuses = [await login_status(client, unique_email()) for client in (first, second) * 4]
    assert statuses.count(401) == 6


@pytest.fixture
async def private_redis() -> AsyncIterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


async def redis_check(client: AppClient) -> str:
    response = await client.get("/readyz")
    assert response.status == 200
    check: str = (await response.json())["checks"]["redis"]
    return check


async def wait_for_redis_check(client: AppClient, wanted: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (check := await redis_check(client)) != wanted:
        assert time.monotonic() < deadline, f"readyz still says redis {check!r}"
        await asyncio.sleep(0.2)


async def statuses_of(client: AppClient, count: int, headers: dict[str, str]) -> list[int]:
    statuses = []
    for _ in range(count):
        response = await client.get("/auth/me/", headers=headers)
        await response.read()
        statuses.append(response.status)
    return statuses


async def test_when_redis_stops_instances_count_per_process_and_resume_sharing_when_it_returns(
    make_client: ClientFactory, postgres_url: str, private_redis: RedisServer
) -> None:
    settings: dict[str, Any] = {
        "database_url": postgres_url,
        "redis_url": private_redis.url,
        "rate_limits": limits(per_address="6/minute"),
    }
    first = await make_client(**settings)
    second = await make_client(**settings)
    session = await register(first)
    auth = {"Authorization": f"Bearer {session['access']}"}

    # Shared: the two instances spend one budget (registering spent one of its six).
    shared = await statuses_of(first, 2, auth) + await statuses_of(second, 3, auth)
    assert shared == [200] * 5
    assert await statuses_of(first, 1, auth) == [429]

    private_redis.stop()
    # Per process, never unlimited, never an error: six more on each instance, then 429.
    for instance in (first, second):
        statuses = await statuses_of(instance, 8, auth)
        assert statuses == [200] * 6 + [429] * 2
        assert await redis_check(instance) == "degraded"

    private_redis.start()
    for instance in (first, second):
        await wait_for_redis_check(instance, "ok")
    # Shared again (the restarted Redis starts empty): one budget of six for both.
    resumed = await statuses_of(first, 3, auth) + await statuses_of(second, 3, auth)
    assert resumed == [200] * 6
    assert await statuses_of(second, 1, auth) + await statuses_of(first, 1, auth) == [429, 429]
