"""Registration and login as the contract describes them, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import pytest
from argon2 import PasswordHasher
from auth_support import PASSWORD, bearer, register, unique_email

from chatbot import keys
from chatbot.auth import repository

from conftest import AppClient, ClientFactory


@pytest.fixture
async def db_client(make_client: ClientFactory, database_url: str) -> AppClient:
    """The app on SQLite and then on PostgreSQL."""
    return await make_client(database_url=database_url)


async def test_registering_answers_201_with_the_user_and_both_tokens(db_client: AppClient) -> None:
    response = await db_client.post(
        "/auth/register/", json={"email": "ada@example.com", "password": PASSWORD, "name": "Ada"}
    )
    assert response.status == 201
    body = await response.json()
    assert set(body) == {"user", "access", "refresh"}
    user = body["user"]
    assert set(user) == {"id", "email", "name", "created_at"}
    assert user["email"] == "ada@example.com"
    assert user["name"] == "Ada"
    assert user["created_at"].endswith("+00:00")
    me = await db_client.get("/auth/me/", headers=bearer(body["access"]))
    assert await me.json() == user


async def test_emails_are_trimmed_and_lowercased(db_client: AppClient) -> None:
    body = await register(db_client, email="  Grace.Hopper@Example.COM ")
    assert body["user"]["email"] == "grace.hopper@example.com"
    login = await db_client.post(
        "/auth/login/", json={"email": "GRACE.HOPPER@example.com", "password": PASSWORD}
    )
    assert login.status == 200


async def test_the_name_is_optional(db_client: AppClient) -> None:
    response = await db_client.post(
        "/auth/register", json={"email": unique_email(), "password": PASSWORD}
    )
    assert response.status == 201
    assert (await response.json())["user"]["name"] == ""


async def test_an_email_registered_twice_answers_409_email_taken(db_client: AppClient) -> None:
    email = unique_email()
    await register(db_client, email=email)
    response = await db_client.post(
        "/auth/register/", json={"email": email.upper(), "password": "another password"}
    )
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "email_taken"


async def test_logging_in_answers_the_user_and_fresh_tokens(db_client: AppClient) -> None:
    registered = await register(db_client)
    response = await db_client.post(
        "/auth/login", json={"email": registered["user"]["email"], "password": PASSWORD}
    )
    assert response.status == 200
    body = await response.json()
    assert body["user"] == registered["user"]
    assert body["access"] != registered["access"]
    assert body["refresh"] != registered["refresh"]
    me = await db_client.get("/auth/me", headers=bearer(body["access"]))
    assert me.status == 200


async def test_unknown_email_and_wrong_password_get_the_same_401(db_client: AppClient) -> None:
    registered = await register(db_client)
    wrong_password = await db_client.post(
        "/auth/login/",
        json={"email": registered["user"]["email"], "password": "not the password"},
    )
    unknown_email = await db_client.post(
        "/auth/login/", json={"email": unique_email(), "password": "not the password"}
    )
    assert wrong_password.status == unknown_email.status == 401
    assert await wrong_password.json() == await unknown_email.json()
    assert (await unknown_email.json())["error"]["code"] == "invalid_credentials"


async def test_unknown_email_and_wrong_password_take_about_the_same_time(
    make_client: ClientFactory,
) -> None:
    client = await make_client(rate_limits={"enabled": False})
    registered = await register(client)

    async def timed(email: str) -> float:
        started = time.perf_counter()
        response = await client.post(
            "/auth/login/", json={"email": email, "password": "not the password"}
        )
        assert response.status == 401
        return time.perf_counter() - started

    await timed(unique_email())  # the first unknown email also makes the dummy hash
    wrong_times, unknown_times = [], []
    for _ in range(7):  # interleaved, so that other load on the machine weighs on both alike
        wrong_times.append(await timed(registered["user"]["email"]))
        unknown_times.append(await timed(unique_email()))
    wrong, unknown = statistics.median(wrong_times), statistics.median(unknown_times)
    # Both spend one argon2 verification; skipping it would make the unknown email ~100x faster.
    # The factor 4 is generous on purpose: it only has to tell "one hash" from "no hash" on a
    # loaded machine, not measure the hash.
    assert unknown > wrong / 4
    assert wrong > unknown / 4


async def test_a_hash_made_with_weaker_parameters_is_upgraded_at_login(client: AppClient) -> None:
    registered = await register(client)
    engine = client.app[keys.ENGINE]
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    await repository.update_password_hash(engine, registered["user"]["id"], weak)
    response = await client.post(
        "/auth/login/", json={"email": registered["user"]["email"], "password": PASSWORD}
    )
    assert response.status == 200
    record = await repository.user_by_id(engine, registered["user"]["id"])
    assert record is not None
    assert "m=19456,t=2,p=1" in record.password_hash
    assert record.password_hash.startswith("$argon2id$")


LONG = "p" * 1025

BAD_REGISTRATIONS: list[tuple[str, Any, str]] = [
    ("short password", {"email": "a@example.com", "password": "seven77"}, "password"),
    ("absurdly long password", {"email": "a@example.com", "password": LONG}, "password"),
    ("password not a string", {"email": "a@example.com", "password": 12345678}, "password"),
    ("missing password", {"email": "a@example.com"}, "password"),
    ("missing email", {"password": PASSWORD}, "email"),
    ("email without @", {"email": "ada.example.com", "password": PASSWORD}, "email"),
    ("email without domain dot", {"email": "ada@localhost", "password": PASSWORD}, "email"),
    ("email with space", {"email": "a da@example.com", "password": PASSWORD}, "email"),
    ("email with two @", {"email": "a@b@example.com", "password": PASSWORD}, "email"),
    (
        "email too long",
        {"email": "a" * 64 + "@" + "b" * 300 + ".com", "password": PASSWORD},
        "email",
    ),
    ("email null", {"email": None, "password": PASSWORD}, "email"),
    ("name not a string", {"email": "a@example.com", "password": PASSWORD, "name": 5}, "name"),
    ("name too long", {"email": "a@example.com", "password": PASSWORD, "name": "n" * 201}, "name"),
    (
        "name with control",
        {"email": "a@example.com", "password": PASSWORD, "name": "a\x00b"},
        "name",
    ),
    ("lone surrogate password", {"email": "a@example.com", "password": "\ud800" * 9}, "password"),
    (
        "lone surrogate name",
        {"email": "a@example.com", "password": PASSWORD, "name": "\udfff"},
        "name",
    ),
    ("unknown field", {"email": "a@example.com", "password": PASSWORD, "admin": True}, "admin"),
]


@pytest.mark.parametrize(
    ("case", "body", "field"), BAD_REGISTRATIONS, ids=[c[0] for c in BAD_REGISTRATIONS]
)
async def test_bad_registrations_answer_422_naming_the_field(
    client: AppClient, case: str, body: Any, field: str
) -> None:
    response = await client.post("/auth/register/", json=body)
    assert response.status == 422, case
    error = (await response.json())["error"]
    assert error["code"] == "validation_error"
    assert field in {item["field"] for item in error["fields"]}


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"", 400, "invalid_json"),
        (b"{not json", 400, "invalid_json"),
        (b"\xff\xfe", 400, "invalid_json"),
        (b"[]", 422, "validation_error"),
        (b'"ada@example.com"', 422, "validation_error"),
    ],
)
async def test_bodies_that_are_not_a_json_object_are_refused(
    client: AppClient, raw: bytes, status: int, code: str
) -> None:
    for path in ("/auth/register/", "/auth/login/"):
        response = await client.post(path, data=raw, headers={"Content-Type": "application/json"})
        assert response.status == status
        assert (await response.json())["error"]["code"] == code


async def test_an_absurdly_long_login_password_is_refused_before_hashing(client: AppClient) -> None:
    started = time.perf_counter()
    response = await client.post(
        "/auth/login/", json={"email": unique_email(), "password": "x" * 60_000}
    )
    assert response.status == 422
    assert (await response.json())["error"]["fields"][0]["field"] == "password"
    # Hashing 60,000 characters with argon2 takes long enough to matter only on a loaded
    # machine, so the bound is generous: it catches a hash of the whole text done on the loop
    # or several times, not a few milliseconds of scheduling noise.
    assert time.perf_counter() - started < 5.0


async def test_a_body_over_the_size_limit_answers_413(make_client: ClientFactory) -> None:
    client = await make_client(max_body_bytes=4096)
    response = await client.post(
        "/auth/register/", json={"email": unique_email(), "password": "x" * 10_000}
    )
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "payload_too_large"


async def test_a_refused_registration_creates_no_account(client: AppClient) -> None:
    email = unique_email()
    refused = await client.post("/auth/register/", json={"email": email, "password": "short"})
    assert refused.status == 422
    accepted = await client.post("/auth/register/", json={"email": email, "password": PASSWORD})
    assert accepted.status == 201


async def test_hashing_runs_off_the_event_loop(client: AppClient) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.002)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        await register(client)
    finally:
        task.cancel()
    # argon2 at 19 MiB takes tens of milliseconds; the loop kept ticking meanwhile. A count, not
    # a time: a hash on the loop would leave the ticker at 0 or 1 however fast the machine is.
    assert ticks >= 3


@pytest.mark.parametrize("name", ["\x1cAda", "Ada\x1f", "\tAda", "Ada\n"])
async def test_control_characters_are_refused_even_at_the_ends_of_a_name(
    client: AppClient, name: str
) -> None:
    response = await client.post(
        "/auth/register/", json={"email": unique_email(), "password": PASSWORD, "name": name}
    )
    assert response.status == 422


async def test_spaces_around_a_name_are_trimmed(client: AppClient) -> None:
    body = await register(client, name="  Ada Lovelace  ")
    assert body["user"]["name"] == "Ada Lovelace"


async def test_concurrent_registrations_of_one_email_make_one_account(
    db_client: AppClient,
) -> None:
    email = unique_email()
    responses = await asyncio.gather(
        *(
            db_client.post("/auth/register/", json={"email": email, "password": PASSWORD})
            for _ in range(5)
        )
    )
    statuses = sorted(response.status for response in responses)
    assert statuses == [201, 409, 409, 409, 409]
    for response in responses:
        if response.status == 409:
            assert (await response.json())["error"]["code"] == "email_taken"


AUTHENTICATED_BODY_ROUTES = [("PATCH", "/auth/me/"), ("POST", "/auth/password/")]
PUBLIC_BODY_ROUTES = [("POST", "/auth/refresh/"), ("POST", "/auth/logout/")]


@pytest.mark.parametrize(("method", "path"), AUTHENTICATED_BODY_ROUTES + PUBLIC_BODY_ROUTES)
@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"", 400, "invalid_json"),
        (b"{", 400, "invalid_json"),
        (b"null", 422, "validation_error"),
        (b"[1]", 422, "validation_error"),
    ],
)
async def test_every_body_route_refuses_bodies_that_are_not_json_objects(
    client: AppClient, method: str, path: str, raw: bytes, status: int, code: str
) -> None:
    session = await register(client)
    response = await client.request(
        method,
        path,
        data=raw,
        headers={**bearer(session["access"]), "Content-Type": "application/json"},
    )
    assert response.status == status
    assert (await response.json())["error"]["code"] == code
