"""Which requests the auth middleware guards: handlers not marked public, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from auth_support import bearer, register

from chatbot.app import create_app
from chatbot.auth.context import current_user
from chatbot.http.routing import public

from conftest import AppClient, SettingsFactory


async def whoami(request: web.Request) -> web.Response:
    return web.json_response({"id": current_user(request).id})


@public
async def open_page(request: web.Request) -> web.Response:
    return web.Response(text="<h1>hello</h1>", content_type="text/html")


@pytest.fixture
async def custom_client(
    aiohttp_client: object, make_settings: SettingsFactory, tmp_path: Path
) -> AppClient:
    """The real app plus a protected API route, a public page and a static folder."""
    app = create_app(make_settings())
    app.router.add_get("/api/private/", whoami)
    app.router.add_get("/dashboard/", open_page)
    app.router.add_get("/dashboard/private/", whoami)
    (tmp_path / "hello.txt").write_text("static hello")
    app.router.add_static("/files/", tmp_path)
    client: TestClient[web.Request, web.Application] = await aiohttp_client(app)  # type: ignore[operator]
    return client


@pytest.mark.parametrize("path", ["/api/nope/", "/auth/nope", "/v1/nope", "/ws/nope/"])
async def test_unknown_api_paths_answer_404_not_401(client: AppClient, path: str) -> None:
    for headers in ({}, bearer("garbage")):
        response = await client.get(path, headers=headers)
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "not_found"


async def test_a_wrong_method_answers_405_not_401(client: AppClient) -> None:
    response = await client.delete("/auth/me/")
    assert response.status == 405
    assert (await response.json())["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


async def test_public_routes_need_no_token_even_a_bad_one(client: AppClient) -> None:
    for path in ("/healthz", "/readyz", "/api/openapi.json"):
        response = await client.get(path, headers=bearer("garbage"))
        assert response.status == 200, path


async def test_handlers_are_protected_unless_marked_public(custom_client: AppClient) -> None:
    refused = await custom_client.get("/api/private/")
    assert refused.status == 401
    assert (await refused.json())["error"]["code"] == "not_authenticated"
    session = await register(custom_client)
    allowed = await custom_client.get("/api/private/", headers=bearer(session["access"]))
    assert await allowed.json() == {"id": session["user"]["id"]}


async def test_protection_does_not_depend_on_the_path(custom_client: AppClient) -> None:
    assert (await custom_client.get("/dashboard/")).status == 200
    private = await custom_client.get("/dashboard/private/")
    assert private.status == 401
    assert (await private.json())["error"]["code"] == "not_authenticated"


async def test_static_files_are_public(custom_client: AppClient) -> None:
    response = await custom_client.get("/files/hello.txt")
    assert response.status == 200
    assert await response.text() == "static hello"
    missing = await custom_client.get("/files/missing.txt")
    assert missing.status == 404


async def test_unknown_pages_outside_the_api_stay_plain_404s(custom_client: AppClient) -> None:
    response = await custom_client.get("/no-such-page")
    assert response.status == 404
    assert response.content_type != "application/json"
