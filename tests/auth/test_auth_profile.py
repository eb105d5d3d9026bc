"""The profile (`/auth/me/`), changing the password, and deleted accounts."""

from __future__ import annotations

from typing import Any

import pytest
from auth_support import PASSWORD, bearer, register
from sqlalchemy import delete

from chatbot import keys
from chatbot.auth import repository
from chatbot.auth.sessions import delete_account, forget, remember
from chatbot.storage.schema import users

from conftest import AppClient, ClientFactory

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
async def db_client(make_client: ClientFactory, database_url: str) -> AppClient:
    return await make_client(database_url=database_url)


async def test_patching_the_name_changes_the_profile_at_once(db_client: AppClient) -> None:
    session = await register(db_client)
    auth = bearer(session["access"])
    response = await db_client.patch("/auth/me/", json={"name": "  Ada Lovelace "}, headers=auth)
    assert response.status == 200
    assert (await response.json())["name"] == "Ada Lovelace"
    # The same access token shows the new name: the profile is not frozen into the token.
    me = await (await db_client.get("/auth/me", headers=auth)).json()
    assert me == {**session["user"], "name": "Ada Lovelace"}


async def test_patching_nothing_changes_nothing(db_client: AppClient) -> None:
    session = await register(db_client)
    for body in ({}, {"name": None}):
        response = await db_client.patch("/auth/me", json=body, headers=bearer(session["access"]))
        assert response.status == 200
        assert await response.json() == session["user"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": 7}, "name"),
        ({"name": "n" * 201}, "name"),
        ({"name": "tab\tinside"}, "name"),
        ({"email": "new@example.com"}, "email"),
    ],
)
async def test_bad_profile_changes_answer_422_and_change_nothing(
    client: AppClient, body: dict[str, Any], field: str
) -> None:
    session = await register(client)
    auth = bearer(session["access"])
    response = await client.patch("/auth/me/", json=body, headers=auth)
    assert response.status == 422
    assert field in {item["field"] for item in (await response.json())["error"]["fields"]}
    assert await (await client.get("/auth/me/", headers=auth)).json() == session["user"]


async def change_password(
    client: AppClient, access: str, current: str = PASSWORD, new: str = NEW_PASSWORD
) -> tuple[int, dict[str, Any]]:
    response = await client.post(
        "/auth/password/",
        json={"current_password": current, "new_password": new},
        headers=bearer(access),
    )
    return response.status, await response.json()


async def test_changing_the_password_ends_every_other_session(db_client: AppClient) -> None:
    session = await register(db_client)
    email = session["user"]["email"]
    other = await (
        await db_client.post("/auth/login/", json={"email": email, "password": PASSWORD})
    ).json()

    status, fresh = await change_password(db_client, session["access"])
    assert status == 200
    assert set(fresh) == {"user", "access", "refresh"}

    for stale_access in (session["access"], other["access"]):
        response = await db_client.get("/auth/me/", headers=bearer(stale_access))
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "session_revoked"
    for stale_refresh in (session["refresh"], other["refresh"]):
        response = await db_client.post("/auth/refresh/", json={"refresh": stale_refresh})
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "token_revoked"

    assert (await db_client.get("/auth/me/", headers=bearer(fresh["access"]))).status == 200
    rotated = await db_client.post("/auth/refresh/", json={"refresh": fresh["refresh"]})
    assert rotated.status == 200
    renewed = await rotated.json()
    assert (await db_client.get("/auth/me/", headers=bearer(renewed["access"]))).status == 200


async def test_after_a_change_only_the_new_password_logs_in(db_client: AppClient) -> None:
    session = await register(db_client)
    email = session["user"]["email"]
    await change_password(db_client, session["access"])
    old = await db_client.post("/auth/login/", json={"email": email, "password": PASSWORD})
    new = await db_client.post("/auth/login/", json={"email": email, "password": NEW_PASSWORD})
    assert (old.status, new.status) == (401, 200)


async def test_a_wrong_current_password_answers_403_and_changes_nothing(client: AppClient) -> None:
    session = await register(client)
    status, body = await change_password(client, session["access"], current="not my password")
    assert status == 403
    assert body["error"]["code"] == "invalid_credentials"
    assert (await client.get("/auth/me/", headers=bearer(session["access"]))).status == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"current_password": PASSWORD, "new_password": "short"}, "new_password"),
        ({"current_password": PASSWORD, "new_password": "x" * 5000}, "new_password"),
        ({"current_password": "x" * 5000, "new_password": NEW_PASSWORD}, "current_password"),
        ({"new_password": NEW_PASSWORD}, "current_password"),
        ({"current_password": PASSWORD}, "new_password"),
    ],
)
async def test_bad_password_changes_answer_422(
    client: AppClient, body: dict[str, Any], field: str
) -> None:
    session = await register(client)
    response = await client.post("/auth/password/", json=body, headers=bearer(session["access"]))
    assert response.status == 422
    assert field in {item["field"] for item in (await response.json())["error"]["fields"]}


async def test_changing_the_password_needs_an_access_token(client: AppClient) -> None:
    status = (
        await client.post(
            "/auth/password/", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        )
    ).status
    assert status == 401


async def test_a_password_change_ends_sessions_on_every_instance(
    make_client: ClientFactory, postgres_url: str, redis_url: str
) -> None:
    first = await make_client(database_url=postgres_url, redis_url=redis_url)
    second = await make_client(database_url=postgres_url, redis_url=redis_url)
    session = await register(first)
    # The second instance has checked (and cached) the session before the change.
    assert (await second.get("/auth/me/", headers=bearer(session["access"]))).status == 200
    other = await (
        await second.post(
            "/auth/login/", json={"email": session["user"]["email"], "password": PASSWORD}
        )
    ).json()

    status, fresh = await change_password(first, session["access"])
    assert status == 200

    for instance in (first, second):
        for stale in (session["access"], other["access"]):
            assert (await instance.get("/auth/me/", headers=bearer(stale))).status == 401
        assert (await instance.get("/auth/me/", headers=bearer(fresh["access"]))).status == 200


async def test_a_token_of_a_deleted_account_answers_401(db_client: AppClient) -> None:
    session = await register(db_client)
    auth = bearer(session["access"])
    assert (await db_client.get("/auth/me/", headers=auth)).status == 200
    assert await delete_account(db_client.app, session["user"]["id"])
    response = await db_client.get("/auth/me/", headers=auth)
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "account_deleted"
    refreshed = await db_client.post("/auth/refresh/", json={"refresh": session["refresh"]})
    assert refreshed.status == 401


async def test_an_account_deleted_behind_the_apps_back_is_refused_once_its_cache_is_gone(
    client: AppClient,
) -> None:
    """Deleting a row with SQL bypasses the cache; a cold cache reads the database."""
    session = await register(client)
    async with client.app[keys.ENGINE].begin() as connection:
        await connection.execute(delete(users).where(users.c.id == session["user"]["id"]))
    await forget(client.app, session["user"]["id"])
    response = await client.get("/auth/me/", headers=bearer(session["access"]))
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "account_deleted"


async def test_a_name_written_by_other_code_survives_the_session_cache_intact(
    client: AppClient,
) -> None:
    """Names set outside the API (seeding, SQL) may hold anything; the cache keeps it exact."""
    session = await register(client)
    odd = "odd\x1fname\x1f42\nwith everything"
    record = await repository.update_name(client.app[keys.ENGINE], session["user"]["id"], odd)
    assert record is not None
    await remember(client.app, record)
    me = await client.get("/auth/me/", headers=bearer(session["access"]))
    assert (await me.json())["name"] == odd
