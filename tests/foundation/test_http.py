"""Routing and the contract's HTTP conventions: slashes, JSON errors, request ids."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from api_support import bearer, create_chatbot, register
from pydantic import BaseModel

from chatbot import keys
from chatbot.app import create_app
from chatbot.http.routing import public
from chatbot.http.validation import read_json

from conftest import AppClient, SettingsFactory

ROUTER_404 = "no such resource"


def concrete(path: str) -> str:
    """Fill every `{variable}` of a route path with a well-formed id that matches nothing."""
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


async def test_every_route_answers_with_and_without_its_trailing_slash(client: AppClient) -> None:
    routes = client.app[keys.ROUTES].routes
    assert routes, "the route table is empty"
    for route in routes:
        with_slash = concrete(route.path)
        for path in {with_slash, with_slash.rstrip("/") or "/"}:
            response = await client.request(route.method, path, allow_redirects=False)
            body = await response.text()
            where = f"{route.method} {path} -> {response.status} {body[:200]}"
            assert response.status not in {301, 302, 307, 308, 405}, where
            assert not (response.status == 404 and ROUTER_404 in body), where


@pytest.mark.parametrize("path", ["/api/nope", "/api/", "/auth/nope/", "/v1/nope", "/ws/nope"])
async def test_unknown_api_paths_answer_the_contract_json_404(client: AppClient, path: str) -> None:
    response = await client.get(path)
    assert response.status == 404
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["error"]["code"] == "not_found"
    assert path in body["error"]["message"]


async def test_a_wrong_method_on_an_api_path_answers_json_405_with_allow(
    client: AppClient,
) -> None:
    response = await client.delete("/healthz")
    assert response.status == 405
    assert "GET" in response.headers["Allow"]
    assert (await response.json())["error"]["code"] == "method_not_allowed"


async def test_unknown_pages_outside_the_api_are_not_json(client: AppClient) -> None:
    response = await client.get("/no-such-page")
    assert response.status == 404
    assert response.content_type != "application/json"


class Echo(BaseModel):
    name: str
    count: int


@public
async def _boom(request: web.Request) -> web.Response:
    raise RuntimeError("secret internal detail")


@public
async def _echo(request: web.Request) -> web.Response:
    body = await read_json(request, Echo)
    return web.json_response(body.model_dump())


AppFactory = Callable[..., Awaitable[AppClient]]


@pytest.fixture
async def test_app_client(aiohttp_client: AppFactory, make_settings: SettingsFactory) -> AppClient:
    """The real app plus two routes that exist only in this test module."""
    app = create_app(make_settings(max_body_bytes=2048))
    app.router.add_get("/api/test-boom", _boom)
    app.router.add_get("/test-boom", _boom)
    app.router.add_post("/api/test-echo", _echo)
    return await aiohttp_client(app)


async def test_an_unexpected_error_is_logged_with_the_request_id_and_answered_json_500(
    test_app_client: AppClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await test_app_client.get("/api/test-boom", headers={"X-Request-ID": "abc-123"})
    assert response.status == 500
    body = await response.json()
    assert body["error"]["code"] == "internal_error"
    assert "abc-123" in body["error"]["message"]
    assert "secret internal detail" not in body["error"]["message"]
    assert response.headers["X-Request-ID"] == "abc-123"
    assert any("abc-123" in record.getMessage() for record in caplog.records)


async def test_an_unexpected_error_outside_the_api_shows_no_traceback(
    test_app_client: AppClient,
) -> None:
    response = await test_app_client.get("/test-boom")
    assert response.status == 500
    text = await response.text()
    assert "Traceback" not in text
    assert "secret internal detail" not in text


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"", 400, "invalid_json"),
        (b"\xff\xfe", 400, "invalid_json"),
        (b"[1, 2]", 422, "validation_error"),
        (b'{"name": "x"}', 422, "validation_error"),
        (b'{"name": "x", "count": "many"}', 422, "validation_error"),
        (b'{"name": "' + b"x" * 4000 + b'", "count": 1}', 413, "payload_too_large"),
    ],
)
async def test_bad_bodies_get_clear_json_errors(
    test_app_client: AppClient, data: bytes, status: int, code: str
) -> None:
    response = await test_app_client.post(
        "/api/test-echo", data=data, headers={"Content-Type": "application/json"}
    )
    assert response.status == status
    assert (await response.json())["error"]["code"] == code


async def test_deeply_nested_json_answers_400_invalid_json_on_every_json_route(
    client: AppClient,
) -> None:
    account = await register(client)
    headers = {**bearer(account["access"]), "Content-Type": "application/json"}
    chatbot = await create_chatbot(client, headers, name="Nested")
    # Deeper than Python's recursion limit: the JSON parser raised RecursionError (a 500).
    nested = "[" * 100_000 + "]" * 100_000
    for method, path, body in (
        ("POST", "/auth/login/", f'{{"email": {nested}}}'),
        ("POST", "/auth/register/", nested),
        ("POST", "/api/chatbots/", f'{{"name": "x", "brain": {{"type": {nested}}}}}'),
        ("PATCH", f"/api/chatbots/{chatbot['id']}/", f'{{"theme": {nested}}}'),
        ("POST", f"/api/chatbots/{chatbot['id']}/knowledge/", f'{{"question": {nested}}}'),
    ):
        response = await client.request(method, path, data=body, headers=headers)
        error = await response.json()
        assert response.status == 400, (path, error)
        assert error["error"]["code"] == "invalid_json", (path, error)
        assert "too deeply" in error["error"]["message"]


async def test_validation_errors_name_the_fields(test_app_client: AppClient) -> None:
    response = await test_app_client.post("/api/test-echo", json={"count": "x"})
    body = await response.json()
    fields = {item["field"] for item in body["error"]["fields"]}
    assert fields == {"name", "count"}


async def test_a_valid_body_passes(test_app_client: AppClient) -> None:
    response = await test_app_client.post("/api/test-echo", json={"name": "a", "count": 2})
    assert await response.json() == {"name": "a", "count": 2}


async def test_request_ids_are_echoed_when_sane_and_made_otherwise(client: AppClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "req.42"})
    assert given.headers["X-Request-ID"] == "req.42"
    insane = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", insane.headers["X-Request-ID"])
