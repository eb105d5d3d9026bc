"""The rate-limit policies, on the in-process backend and on Redis."""

from __future__ import annotations

import statistics
import time

import pytest
from ratelimit_support import limits, login_status, register, unique_email

from chatbot.ratelimit.check import RateLimitExceeded, check_rate, enforce_rate
from chatbot.ratelimit.policies import limited

from conftest import ClientFactory


@pytest.fixture
def backend(backend_redis_url: str) -> dict[str, str]:
    """Settings naming the backend under test: in-process, then Redis."""
    return {"redis_url": backend_redis_url}


async def test_logins_over_the_limit_answer_429_with_retry_after_and_ratelimit_headers(
    make_client: ClientFactory, backend: dict[str, str]
) -> None:
    client = await make_client(rate_limits=limits(login_per_address="3/minute"), **backend)
    statuses = [await login_status(client, unique_email()) for _ in range(3)]
    assert statuses == [401, 401, 401]

    response = await client.post(
        "/auth/login/", json={"email": unique_email(), "password": "wrong password"}
    )
    assert response.status == 429
    body = await response.json()
    assert body["error"]["code"] == "rate_limited"
    assert "login attempts from this address" in body["error"]["message"]
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert body["error"]["retry_after"] == retry_after
    assert response.headers["RateLimit-Limit"] == "3"
    assert response.headers["RateLimit-Remaining"] == "0"
    assert response.headers["RateLimit-Policy"] == "3;w=60"
    assert int(response.headers["RateLimit-Reset"]) == retry_after


async def test_answers_within_the_limit_carry_the_ratelimit_headers(
    make_client: ClientFactory, backend: dict[str, str]
) -> None:
    client = await make_client(rate_limits=limits(per_address="50/minute"), **backend)
    first = await client.get("/auth/me/")
    second = await client.get("/auth/me/")
    assert first.status == 401
    assert first.headers["RateLimit-Limit"] == "50"
    assert first.headers["RateLimit-Policy"] == "50;w=60"
    assert int(first.headers["RateLimit-Remaining"]) == 49
    assert int(second.headers["RateLimit-Remaining"]) == 48


async def test_x_forwarded_for_counts_only_when_trusted(
    make_client: ClientFactory, backend: dict[str, str]
) -> None:
    untrusted = await make_client(rate_limits=limits(login_per_address="2/minute"), **backend)
    statuses = [
        await login_status(untrusted, unique_email(), {"X-Forwarded-For": f"198.51.100.{n}"})
        for n in range(3)
    ]
    assert statuses == [401, 401, 429]

    trusted = await make_client(
        rate_limits={**limits(login_per_address="2/minute"), "trust_forwarded_for": True},
        **backend,
    )
    spread = [
        await login_status(
            trusted, unique_email(), {"X-Forwarded-For": f"198.51.100.{n}, 10.0.0.1"}
        )
        for n in range(3)
    ]
    assert spread == [401, 401, 401]
    # Only the first hop names the client; the proxies after it do not matter.
    same_client = [
        await login_status(trusted, unique_email(), {"X-Forwarded-For": f"192.0.2.1, 10.0.0.{n}"})
        for n in range(3)
    ]
    assert same_client == [401, 401, 429]


@pytest.mark.parametrize("header", ["not an address", "", ",,,", "999.1.1.1", "x" * 2000])
async def test_a_malformed_x_forwarded_for_counts_against_the_peer(
    make_client: ClientFactory, header: str
) -> None:
    client = await make_client(
        rate_limits={**limits(login_per_address="1/minute"), "trust_forwarded_for": True}
    )
    assert await login_status(client, unique_email(), {"X-Forwarded-For": header}) == 401
    assert await login_status(client, unique_email()) == 429


async def test_registrations_are_limited_per_address(
    make_client: ClientFactory, backend: dict[str, str]
) -> None:
    client = await make_client(rate_limits=limits(register_per_address="2/minute"), **backend)
    await register(client)
    session = await register(client)
    refused = await client.post(
        "/auth/register/", json={"email": unique_email(), "password": "long enough password"}
    )
    assert refused.status == 429
    assert "registrations" in (await refused.json())["error"]["message"]
    # The other routes have their own budgets.
    me = await client.get("/auth/me/", headers={"Authorization": f"Bearer {session['access']}"})
    assert me.status == 200


async def test_every_request_counts_against_the_address_but_health_probes_never_do(
    make_client: ClientFactory, backend: dict[str, str]
) -> None:
    client = await make_client(rate_limits=limits(per_address="4/minute"), **backend)
    statuses = [(await client.get(path)).status for path in ["/auth/me/", "/api/nope"] * 3]
    assert statuses == [401, 404, 401, 404, 429, 429]
    for path in ("/healthz", "/readyz", "/healthz/", "/readyz/"):
        response = await client.get(path)
        assert response.status == 200, path


async def test_disabled_rate_limits_never_refuse(make_client: ClientFactory) -> None:
    client = await make_client(
        rate_limits={
            **limits(per_address="1/minute", login_per_address="1/minute"),
            "enabled": False,
        }
    )
    statuses = [await login_status(client, unique_email()) for _ in range(3)]
    assert statuses == [401, 401, 401]
    assert "RateLimit-Limit" not in (await client.get("/auth/me/")).headers


async def test_check_rate_counts_any_key_for_other_features(
    make_client: ClientFactory, backend: dict[str, str]
) -> None:
    client = await make_client(rate_limits=limits(visitor_messages="2/minute"), **backend)
    app = client.app
    decisions = [await check_rate(app, "visitor_messages", "conversation-1") for _ in range(3)]
    assert [decision.allowed for decision in decisions] == [True, True, False]
    assert decisions[-1].retry_after >= 1
    assert (await check_rate(app, "visitor_messages", "conversation-2")).allowed
    # A rate may be given directly, too.
    assert (await enforce_rate(app, "1/minute", "custom-key")).allowed
    with pytest.raises(RateLimitExceeded) as refused:
        await enforce_rate(app, "1/minute", "custom-key")
    assert refused.value.retry_after >= 1
    assert refused.value.status == 429


async def test_check_rate_allows_everything_when_disabled(make_client: ClientFactory) -> None:
    client = await make_client(rate_limits={"enabled": False, "visitor_messages": "1/minute"})
    decisions = [await check_rate(client.app, "visitor_messages", "c") for _ in range(3)]
    assert all(decision.allowed for decision in decisions)


def test_an_unknown_policy_name_fails_loudly_at_import() -> None:
    with pytest.raises(ValueError, match="unknown rate-limit policies"):
        limited("login_per_adress")


async def test_a_refused_login_spends_no_hashing_time(make_client: ClientFactory) -> None:
    """Limits are checked before the password: a flood of attempts costs no argon2 time."""
    client = await make_client(rate_limits=limits(login_per_account="3/minute"))
    email = unique_email()

    async def timed() -> tuple[int, float]:
        started = time.perf_counter()
        status = await login_status(client, email)
        return status, time.perf_counter() - started

    checked = [await timed() for _ in range(3)]
    refused = [await timed() for _ in range(5)]
    assert {status for status, _ in checked} == {401}
    assert {status for status, _ in refused} == {429}
    hashing = statistics.median(elapsed for _, elapsed in checked)
    assert statistics.median(elapsed for _, elapsed in refused) < hashing / 3
