"""Helpers for the dashboard tests: forms posted with their CSRF token, as a browser does."""

from __future__ import annotations

import html
import re
from typing import Any

import api_support
from aiohttp import ClientResponse
from api_support import PASSWORD

from conftest import AppClient

XSS_IMG = "<img src=x onerror=window.__pwned=1>"
XSS_SCRIPT = "<script>window.__pwned=2</script>"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def unique_email() -> str:
    return api_support.unique_email("op")


def csrf_in(page: str) -> str:
    """The CSRF token of the first form on a page."""
    match = _CSRF.search(page)
    assert match, "the page has no form with a CSRF token"
    return html.unescape(match.group(1))


async def csrf_of(client: AppClient, path: str) -> str:
    """Load a dashboard page (starting a session if needed) and return its form's token."""
    response = await client.get(path)
    assert response.status == 200, await response.text()
    return csrf_in(await response.text())


async def post_form(
    client: AppClient, path: str, data: dict[str, Any], *, token_from: str | None = None
) -> ClientResponse:
    """Post a form the way the browser does, with the token of the page it came from."""
    token = await csrf_of(client, token_from or path)
    return await client.post(path, data={"csrf_token": token, **data}, allow_redirects=False)


async def sign_up(
    client: AppClient, email: str | None = None, name: str = "Ada", password: str = PASSWORD
) -> str:
    """Create an account through the signup form; the client is then logged in."""
    email = email or unique_email()
    response = await post_form(
        client,
        "/dashboard/signup/",
        {"email": email, "name": name, "password": password, "password_confirm": password},
    )
    assert response.status == 303, await response.text()
    return email


async def create_chatbot(client: AppClient, name: str = "Support", **fields: str) -> str:
    """Create a chatbot through the dashboard form; returns its id."""
    data = {
        "name": name,
        "slug": "",
        "greeting": "Hi! How can I help?",
        "brain_type": "knowledge",
        "primary_color": "#2563eb",
        "position": "right",
        **fields,
    }
    response = await post_form(client, "/dashboard/chatbots/new/", data)
    assert response.status == 303, await response.text()
    location = response.headers["Location"]
    match = re.fullmatch(r"/dashboard/chatbots/([0-9a-f-]{36})/knowledge/", location)
    assert match, location
    return match.group(1)


async def access_token(client: AppClient) -> str:
    """The access token the dashboard's scripts get for the logged-in user."""
    response = await client.get("/dashboard/token/")
    assert response.status == 200, await response.text()
    token: str = (await response.json())["access"]
    return token


async def user_id_of(client: AppClient) -> str:
    """The id of the logged-in dashboard user."""
    headers = {"Authorization": f"Bearer {await access_token(client)}"}
    me = await client.get("/auth/me/", headers=headers)
    user_id: str = (await me.json())["id"]
    return user_id
