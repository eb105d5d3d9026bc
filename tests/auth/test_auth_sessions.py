"""Refresh rotation, reuse detection, logout, and tokens that survive a restart."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from auth_support import PASSWORD, bearer, register

from conftest import AppClient, ClientFactory


@pytest.fixture
async def db_client(make_client: ClientFactory, database_url: str) -> AppClient:
    return await make_client(database_url=database_url)


async def refresh(client: AppClient, token: str) -> tuple[int, dict[str, Any]]:
    response = await client.post("/auth/refresh/", json={"refresh": token})
    return response.status, await response.json()


async def test_refreshing_rotates_the_refresh_token(db_client: AppClient) -> None:
    session = await register(db_client)
    status, pair = await refresh(db_client, session["refresh"])
    assert status == 200
    assert set(pair) == {"access", "refresh"}
    assert pair["refresh"] != session["refresh"]
    me = await db_client.get("/auth/me/", headers=bearer(pair["access"]))
    assert me.status == 200
    status, _ = await refresh(db_client, pair["refresh"])
    assert status == 200


async def test_a_rotated_token_used_within_the_grace_window_is_refused_without_revoking(
    db_client: AppClient,
) -> None:
    session = await register(db_client)
    _, successor = await refresh(db_client, session["refresh"])
    status, body = await refresh(db_client, session["refresh"])
    assert status == 401
    assert body["error"]["code"] == "refresh_token_rotated"
    # A legitimate client racing itself keeps its session: the successor still works.
    status, _ = await refresh(db_client, successor["refresh"])
    assert status == 200


async def test_reusing_a_rotated_token_after_the_grace_window_revokes_its_whole_family(
    make_client: ClientFactory, database_url: str
) -> None:
    client = await make_client(database_url=database_url, auth={"refresh_reuse_grace_seconds": 0})
    session = await register(client)
    other_login = await client.post(
        "/auth/login/", json={"email": session["user"]["email"], "password": PASSWORD}
    )
    other = await other_login.json()
    _, first = await refresh(client, session["refresh"])
    _, second = await refresh(client, first["refresh"])
    await asyncio.sleep(0.01)

    status, body = await refresh(client, session["refresh"])  # the stolen, already used token
    assert status == 401
    assert body["error"]["code"] == "refresh_token_reused"
    status, body = await refresh(client, second["refresh"])  # the family's newest token
    assert status == 401
    assert body["error"]["code"] == "token_revoked"
    # Another login of the same account is another family, untouched.
    status, _ = await refresh(client, other["refresh"])
    assert status == 200


async def test_concurrent_refreshes_with_one_token_rotate_it_once(db_client: AppClient) -> None:
    session = await register(db_client)
    results = await asyncio.gather(*(refresh(db_client, session["refresh"]) for _ in range(5)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 401, 401, 401, 401]
    winner = next(body for status, body in results if status == 200)
    assert (await refresh(db_client, winner["refresh"]))[0] == 200


async def test_logout_revokes_the_token_and_its_successors(db_client: AppClient) -> None:
    session = await register(db_client)
    _, successor = await refresh(db_client, session["refresh"])
    response = await db_client.post("/auth/logout/", json={"refresh": successor["refresh"]})
    assert response.status == 204
    assert await response.read() == b""
    status, body = await refresh(db_client, successor["refresh"])
    assert status == 401
    assert body["error"]["code"] == "token_revoked"


async def test_logout_with_an_old_token_of_the_family_ends_the_family(db_client: AppClient) -> None:
    session = await register(db_client)
    _, successor = await refresh(db_client, session["refresh"])
    response = await db_client.post("/auth/logout", json={"refresh": session["refresh"]})
    assert response.status == 204
    assert (await refresh(db_client, successor["refresh"]))[0] == 401


async def test_logging_out_twice_is_harmless(db_client: AppClient) -> None:
    session = await register(db_client)
    for _ in range(2):
        response = await db_client.post("/auth/logout/", json={"refresh": session["refresh"]})
        assert response.status == 204


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"refresh": "garbage"}, 401, "invalid_token"),
        ({"refresh": ""}, 422, "validation_error"),
        ({"refresh": 42}, 422, "validation_error"),
        ({}, 422, "validation_error"),
        ({"refresh": "x", "extra": 1}, 422, "validation_error"),
    ],
)
async def test_bad_refresh_and_logout_bodies_are_refused(
    client: AppClient, body: dict[str, Any], status: int, code: str
) -> None:
    for path in ("/auth/refresh/", "/auth/logout/"):
        response = await client.post(path, json=body)
        assert response.status == status
        assert (await response.json())["error"]["code"] == code


async def test_tokens_stay_valid_across_a_restart(
    make_client: ClientFactory, postgres_url: str
) -> None:
    first = await make_client(database_url=postgres_url)
    session = await register(first)
    await first.close()

    restarted = await make_client(database_url=postgres_url)
    me = await restarted.get("/auth/me/", headers=bearer(session["access"]))
    assert me.status == 200
    assert (await me.json())["id"] == session["user"]["id"]
    assert (await refresh(restarted, session["refresh"]))[0] == 200


async def test_tokens_signed_with_another_secret_key_are_refused(
    make_client: ClientFactory, postgres_url: str
) -> None:
    first = await make_client(database_url=postgres_url)
    session = await register(first)
    other = await make_client(
        database_url=postgres_url, secret_key="a-completely-different-secret-key-0123456789"
    )
    assert (await other.get("/auth/me/", headers=bearer(session["access"]))).status == 401
    assert (await refresh(other, session["refresh"]))[0] == 401
