"""Dashboard sessions: sign up, log in and out, cookie flags, CSRF, and who may see what."""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest
from aiohttp import ClientResponse

from chatbot.dashboard.session import COOKIE_NAME

from .dashboard_support import (
    PASSWORD,
    access_token,
    create_chatbot,
    csrf_of,
    post_form,
    sign_up,
    unique_email,
)
from conftest import AppClient, ClientFactory


def session_cookie(response: ClientResponse) -> SimpleCookie:
    """The Set-Cookie of the session as the browser reads it."""
    cookies = SimpleCookie()
    for header in response.headers.getall("Set-Cookie", []):
        cookies.load(header)
    assert COOKIE_NAME in cookies, response.headers.getall("Set-Cookie", [])
    return cookies


def session_of(client: AppClient) -> str:
    """The session cookie's value in the client's jar."""
    jar = client.session.cookie_jar.filter_cookies(client.make_url("/dashboard/"))
    return jar[COOKIE_NAME].value


async def test_a_visitor_who_is_not_logged_in_is_sent_to_the_login_page(client: AppClient) -> None:
    home = await client.get("/dashboard", allow_redirects=False)
    assert home.headers["Location"] == "/dashboard/inbox/"
    for path in (
        "/dashboard/inbox/",
        "/dashboard/chatbots/",
        "/dashboard/analytics",
        "/dashboard/profile/",
    ):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 303, path
        assert response.headers["Location"].startswith("/dashboard/login/?next=/dashboard/")


async def test_signing_up_logs_in_and_the_login_page_leads_back_where_one_was_going(
    client: AppClient,
) -> None:
    email = await sign_up(client)
    assert (await client.get("/dashboard/inbox/")).status == 200
    await post_form(client, "/dashboard/logout/", {}, token_from="/dashboard/profile/")
    assert (await client.get("/dashboard/inbox/", allow_redirects=False)).status == 303

    response = await post_form(
        client,
        "/dashboard/login/",
        {"email": email.upper(), "password": PASSWORD, "next": "/dashboard/chatbots/"},
    )

    assert response.status == 303
    assert response.headers["Location"] == "/dashboard/chatbots/"
    page = await client.get("/dashboard/profile/")
    assert email in await page.text()


async def test_the_dashboard_login_is_the_accounts_api_login(client: AppClient) -> None:
    email = await sign_up(client, name="Grace")

    api = await client.post("/auth/login/", json={"email": email, "password": PASSWORD})

    assert api.status == 200
    assert (await api.json())["user"]["name"] == "Grace"


@pytest.mark.parametrize(
    ("next_path", "landing"),
    [
        ("https://evil.example/", "/dashboard/inbox/"),
        ("//evil.example/dashboard/", "/dashboard/inbox/"),
        ("/dashboard//evil.example", "/dashboard/inbox/"),
        ("/api/chatbots/", "/dashboard/inbox/"),
        ("/dashboard/analytics/?start=2025-01-01", "/dashboard/analytics/?start=2025-01-01"),
    ],
)
async def test_after_login_only_dashboard_paths_are_followed(
    client: AppClient, next_path: str, landing: str
) -> None:
    email = await sign_up(client)
    await post_form(client, "/dashboard/logout/", {}, token_from="/dashboard/profile/")

    response = await post_form(
        client, "/dashboard/login/", {"email": email, "password": PASSWORD, "next": next_path}
    )

    assert response.headers["Location"] == landing


async def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(
    client: AppClient,
) -> None:
    email = await sign_up(client)
    await post_form(client, "/dashboard/logout/", {}, token_from="/dashboard/profile/")

    wrong = await post_form(client, "/dashboard/login/", {"email": email, "password": "nope-nope"})
    unknown = await post_form(
        client, "/dashboard/login/", {"email": unique_email(), "password": PASSWORD}
    )

    for response in (wrong, unknown):
        assert response.status == 401
        assert "The email or password is wrong." in await response.text()
    assert (await client.get("/dashboard/inbox/", allow_redirects=False)).status == 303


async def test_login_attempts_are_rate_limited_with_a_readable_page(
    make_client: ClientFactory,
) -> None:
    client = await make_client(rate_limits={"login_per_address": "2/minute"})
    for _ in range(2):
        await post_form(client, "/dashboard/login/", {"email": unique_email(), "password": "x"})

    response = await post_form(
        client, "/dashboard/login/", {"email": unique_email(), "password": "x"}
    )

    assert response.status == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many attempts" in await response.text()
    assert response.content_type == "text/html"


async def test_failed_logins_from_one_address_never_refuse_the_owner_from_another(
    make_client: ClientFactory,
) -> None:
    rates = {"trust_forwarded_for": True, "login_failures_per_account_address": "2/minute"}
    client = await make_client(rate_limits=rates)
    email = await sign_up(client)
    await post_form(client, "/dashboard/logout/", {}, token_from="/dashboard/profile/")

    async def log_in(address: str, password: str) -> int:
        token = await csrf_of(client, "/dashboard/login/")
        response = await client.post(
            "/dashboard/login/",
            data={"csrf_token": token, "email": email, "password": password},
            headers={"X-Forwarded-For": address},
            allow_redirects=False,
        )
        await response.read()
        return response.status

    failing = [await log_in("203.0.113.7", "wrong password") for _ in range(3)]

    assert failing == [401, 401, 429]
    assert await log_in("198.51.100.8", PASSWORD) == 303


async def test_the_session_cookie_is_httponly_samesite_lax_and_scoped_to_the_dashboard(
    client: AppClient,
) -> None:
    response = await client.get("/dashboard/login/")

    cookie = session_cookie(response)[COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/dashboard"
    assert not cookie["secure"]  # plain HTTP: a Secure cookie would never come back


async def test_the_session_cookie_is_secure_when_the_public_url_is_https(
    make_client: ClientFactory,
) -> None:
    client = await make_client(public_url="https://chat.example.com")

    response = await client.get("/dashboard/login/")

    assert session_cookie(response)[COOKIE_NAME]["secure"] is True


async def test_the_session_cookie_is_secure_behind_a_proxy_that_says_https(
    client: AppClient,
) -> None:
    response = await client.get("/dashboard/login/", headers={"X-Forwarded-Proto": "https"})

    assert session_cookie(response)[COOKIE_NAME]["secure"] is True


async def test_a_tampered_session_cookie_is_no_login(client: AppClient) -> None:
    await sign_up(client)
    value = session_of(client)
    client.session.cookie_jar.clear()
    forged = value[:-6] + ("AAAAAA" if not value.endswith("AAAAAA") else "BBBBBB")

    response = await client.get(
        "/dashboard/inbox/", headers={"Cookie": f"{COOKIE_NAME}={forged}"}, allow_redirects=False
    )

    assert response.status == 303
    assert response.headers["Location"].startswith("/dashboard/login/")


async def test_a_form_post_without_the_csrf_token_is_refused_and_saves_nothing(
    client: AppClient,
) -> None:
    await csrf_of(client, "/dashboard/signup/")  # a session exists, the token is just not sent
    email = unique_email()
    fields = {"email": email, "name": "Eve", "password": PASSWORD, "password_confirm": PASSWORD}

    response = await client.post("/dashboard/signup/", data=fields, allow_redirects=False)

    assert response.status == 403
    assert response.content_type == "text/html"
    assert "This form has expired" in await response.text()
    login = await client.post("/auth/login/", json={"email": email, "password": PASSWORD})
    assert login.status == 401


async def test_a_form_post_with_a_wrong_csrf_token_is_refused_and_saves_nothing(
    client: AppClient,
) -> None:
    await sign_up(client)
    token = await access_token(client)
    real = await csrf_of(client, "/dashboard/chatbots/new/")

    for wrong in ("", "x" * 43, real[:-1] + ("A" if real[-1] != "A" else "B"), "é" * 10):
        response = await client.post(
            "/dashboard/chatbots/new/",
            data={"csrf_token": wrong, "name": "Sneaky"},
            allow_redirects=False,
        )
        assert response.status == 403, wrong

    listed = await client.get("/api/chatbots/", headers={"Authorization": f"Bearer {token}"})
    assert (await listed.json())["items"] == []


async def test_a_csrf_token_of_another_session_is_refused(make_client: ClientFactory) -> None:
    attacker, victim = await make_client(), await make_client()
    await sign_up(victim)
    stolen_elsewhere = await csrf_of(attacker, "/dashboard/login/")

    response = await victim.post(
        "/dashboard/chatbots/new/",
        data={"csrf_token": stolen_elsewhere, "name": "Sneaky"},
        allow_redirects=False,
    )

    assert response.status == 403


async def test_a_new_login_gets_a_new_csrf_token(client: AppClient) -> None:
    before = await csrf_of(client, "/dashboard/login/")
    await sign_up(client)

    after = await csrf_of(client, "/dashboard/profile/")

    assert after != before


async def test_changing_the_password_ends_every_other_session_but_this_one(
    client: AppClient,
) -> None:
    email = await sign_up(client)
    other_browser = session_of(client)
    client.session.cookie_jar.clear()
    await post_form(client, "/dashboard/login/", {"email": email, "password": PASSWORD})
    api = await client.post("/auth/login/", json={"email": email, "password": PASSWORD})
    refresh = (await api.json())["refresh"]
    new_password = "a brand new passphrase"

    response = await post_form(
        client,
        "/dashboard/profile/password/",
        {
            "current_password": PASSWORD,
            "new_password": new_password,
            "new_password_confirm": new_password,
        },
        token_from="/dashboard/profile/",
    )

    assert response.status == 303
    assert (await client.get("/dashboard/inbox/", allow_redirects=False)).status == 200
    client.session.cookie_jar.clear()
    ended = await client.get(
        "/dashboard/inbox/",
        headers={"Cookie": f"{COOKIE_NAME}={other_browser}"},
        allow_redirects=False,
    )
    assert ended.status == 303
    assert (await client.post("/auth/refresh/", json={"refresh": refresh})).status == 401
    login = await client.post("/auth/login/", json={"email": email, "password": new_password})
    assert login.status == 200


async def test_a_wrong_current_password_changes_nothing(client: AppClient) -> None:
    email = await sign_up(client)

    response = await post_form(
        client,
        "/dashboard/profile/password/",
        {
            "current_password": "not my password",
            "new_password": "another passphrase",
            "new_password_confirm": "another passphrase",
        },
        token_from="/dashboard/profile/",
    )

    assert response.status == 422
    assert "The current password is wrong." in await response.text()
    login = await client.post("/auth/login/", json={"email": email, "password": PASSWORD})
    assert login.status == 200


async def test_the_token_endpoint_gives_an_access_token_to_a_logged_in_session_only(
    client: AppClient,
) -> None:
    anonymous = await client.get("/dashboard/token/")
    assert anonymous.status == 401
    assert (await anonymous.json())["error"]["code"] == "not_authenticated"
    await sign_up(client, name="Lin")

    response = await client.get("/dashboard/token/")

    assert response.headers["Cache-Control"] == "no-store"
    token = (await response.json())["access"]
    me = await client.get("/auth/me/", headers={"Authorization": f"Bearer {token}"})
    assert (await me.json())["name"] == "Lin"


async def test_dashboard_pages_forbid_framing_caching_and_foreign_scripts(
    client: AppClient,
) -> None:
    await sign_up(client)
    await create_chatbot(client)

    response = await client.get("/dashboard/chatbots/")

    headers = response.headers
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "no-store"
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
