"""Dashboard sessions live on the server: the cookie is a random id that logout ends everywhere.

Run on the in-process backends and on Redis; across two instances of the app, which share
sessions through Redis.
"""

from __future__ import annotations

import re

import pytest
from api_support import PASSWORD

from chatbot.dashboard.session import COOKIE_NAME

from .dashboard_support import post_form, sign_up
from conftest import AppClient, ClientFactory

RANDOM_ID = re.compile(r"[A-Za-z0-9_-]{43}")


@pytest.fixture
def backend(backend_redis_url: str) -> dict[str, str]:
    """Settings naming the backend under test: in-process, then Redis."""
    return {"redis_url": backend_redis_url}


def cookie_of(client: AppClient) -> str:
    """The session cookie's value in the client's jar (what a thief would copy)."""
    jar = client.session.cookie_jar.filter_cookies(client.make_url("/dashboard/"))
    return jar[COOKIE_NAME].value


async def token_status(client: AppClient, cookie: str) -> int:
    """What `GET /dashboard/token/` (minting an access token) answers to a bare cookie."""
    response = await client.get("/dashboard/token/", headers={"Cookie": f"{COOKIE_NAME}={cookie}"})
    await response.read()
    return response.status


async def page_status(client: AppClient, cookie: str) -> tuple[int, str]:
    response = await client.get(
        "/dashboard/inbox/", headers={"Cookie": f"{COOKIE_NAME}={cookie}"}, allow_redirects=False
    )
    await response.read()
    return response.status, response.headers.get("Location", "")


async def log_out(client: AppClient) -> None:
    response = await post_form(client, "/dashboard/logout/", {}, token_from="/dashboard/profile/")
    assert response.status == 303


async def test_a_copied_cookie_stops_working_at_logout(
    make_client: ClientFactory, backend: dict[str, str]
) -> None:
    client = await make_client(**backend)
    await sign_up(client)
    copied = cookie_of(client)
    assert await token_status(client, copied) == 200

    await log_out(client)
    client.session.cookie_jar.clear()

    assert await token_status(client, copied) == 401
    status, location = await page_status(client, copied)
    assert status == 303
    assert location.startswith("/dashboard/login/")


async def test_the_cookie_is_only_a_random_id_renewed_at_login(
    make_client: ClientFactory, backend: dict[str, str]
) -> None:
    client = await make_client(**backend)
    email = await sign_up(client)
    await log_out(client)
    before_login = cookie_of(client)

    response = await post_form(client, "/dashboard/login/", {"email": email, "password": PASSWORD})
    assert response.status == 303
    after_login = cookie_of(client)

    assert RANDOM_ID.fullmatch(before_login)
    assert RANDOM_ID.fullmatch(after_login)
    assert after_login != before_login
    client.session.cookie_jar.clear()
    # An id planted before the login (session fixation) is not logged in by it.
    assert await token_status(client, before_login) == 401
    assert await token_status(client, after_login) == 200


async def test_logout_on_one_instance_ends_the_session_on_the_other(
    make_client: ClientFactory, redis_url: str
) -> None:
    first = await make_client(redis_url=redis_url)
    second = await make_client(redis_url=redis_url)
    await sign_up(first)
    copied = cookie_of(first)
    assert await token_status(second, copied) == 200

    await log_out(first)

    assert await token_status(second, copied) == 401


async def test_a_password_change_on_one_instance_ends_other_sessions_on_the_other(
    make_client: ClientFactory, redis_url: str
) -> None:
    first = await make_client(redis_url=redis_url)
    second = await make_client(redis_url=redis_url)
    email = await sign_up(first)
    other_browser = cookie_of(first)
    await post_form(second, "/dashboard/login/", {"email": email, "password": PASSWORD})
    new_password = "a brand new passphrase"

    response = await post_form(
        second,
        "/dashboard/profile/password/",
        {
            "current_password": PASSWORD,
            "new_password": new_password,
            "new_password_confirm": new_password,
        },
        token_from="/dashboard/profile/",
    )

    assert response.status == 303
    assert await token_status(second, cookie_of(second)) == 200
    first.session.cookie_jar.clear()
    assert await token_status(first, other_browser) == 401
