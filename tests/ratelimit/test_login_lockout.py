"""Failed logins cannot lock an account out: they count per (account, address) and per address.

A correct password from one address passes while another address is failing; the account's
own ceiling counts only failures and refuses only addresses that failed for the account.
Addresses are told apart by X-Forwarded-For, trusted here as behind a proxy.
"""

from __future__ import annotations

from typing import Any

import pytest
from ratelimit_support import PASSWORD, limits, login_status, register

from conftest import AppClient, ClientFactory

ADDRESS_A = {"X-Forwarded-For": "203.0.113.10"}
ADDRESS_B = {"X-Forwarded-For": "198.51.100.20"}


@pytest.fixture
def backend(backend_redis_url: str) -> dict[str, str]:
    """Settings naming the backend under test: in-process, then Redis."""
    return {"redis_url": backend_redis_url}


async def refusal(client: AppClient, email: str, headers: dict[str, str]) -> dict[str, Any]:
    """The 429 error of a correct password from `headers`' address, checked for Retry-After."""
    response = await client.post(
        "/auth/login/", json={"email": email, "password": PASSWORD}, headers=headers
    )
    body: dict[str, Any] = await response.json()
    assert response.status == 429, body
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert body["error"]["code"] == "rate_limited"
    return body


async def test_ten_failures_from_one_address_never_refuse_the_owner_from_another(
    make_client: ClientFactory, backend: dict[str, str]
) -> None:
    # The default limits, as shipped.
    client = await make_client(rate_limits={"trust_forwarded_for": True}, **backend)
    email = (await register(client))["user"]["email"]

    failures = [await login_status(client, email, ADDRESS_A) for _ in range(10)]
    owner = await login_status(client, email, ADDRESS_B, password=PASSWORD)

    assert failures == [401] * 10
    assert owner == 200
    body = await refusal(client, email, ADDRESS_A)
    assert "from this address" in body["error"]["message"]


async def test_failures_per_account_and_address_refuse_only_that_pair(
    make_client: ClientFactory, backend: dict[str, str]
) -> None:
    rates = limits(login_failures_per_account_address="3/minute")
    client = await make_client(rate_limits={**rates, "trust_forwarded_for": True}, **backend)
    email = (await register(client))["user"]["email"]
    other = (await register(client))["user"]["email"]

    failures = [await login_status(client, email, ADDRESS_A) for _ in range(3)]

    assert failures == [401, 401, 401]
    body = await refusal(client, email, ADDRESS_A)
    assert "failed logins for this account from this address" in body["error"]["message"]
    # The same address may still try other accounts, and the owner logs in from elsewhere.
    assert await login_status(client, other, ADDRESS_A, password=PASSWORD) == 200
    assert await login_status(client, email, ADDRESS_B, password=PASSWORD) == 200
    # The account is the normalized email, however it is typed.
    await refusal(client, email.upper(), ADDRESS_A)


async def test_the_per_account_ceiling_refuses_only_addresses_that_failed(
    make_client: ClientFactory, backend: dict[str, str]
) -> None:
    rates = limits(login_per_account="3/minute")
    client = await make_client(rate_limits={**rates, "trust_forwarded_for": True}, **backend)
    email = (await register(client))["user"]["email"]
    guessers = [{"X-Forwarded-For": f"192.0.2.{n}"} for n in range(1, 4)]

    successes = [await login_status(client, email, ADDRESS_A, password=PASSWORD) for _ in range(5)]
    failures = [await login_status(client, email, guesser) for guesser in guessers]

    # Successes do not count; three failures from three addresses reach the ceiling.
    assert successes == [200] * 5
    assert failures == [401, 401, 401]
    body = await refusal(client, email, guessers[0])
    assert "failed logins for this account:" in body["error"]["message"]
    # An address without failures for the account is not refused: the owner gets in.
    assert await login_status(client, email, ADDRESS_B, password=PASSWORD) == 200


async def test_wrong_current_passwords_count_as_failed_logins(
    make_client: ClientFactory, backend: dict[str, str]
) -> None:
    rates = limits(login_failures_per_account_address="2/minute")
    client = await make_client(rate_limits=rates, **backend)
    session = await register(client)
    headers = {"Authorization": f"Bearer {session['access']}"}
    wrong = {"current_password": "not my password", "new_password": "a new password 1"}

    statuses = []
    for _ in range(3):
        response = await client.post("/auth/password/", json=wrong, headers=headers)
        await response.read()
        statuses.append(response.status)

    assert statuses == [403, 403, 429]
