"""The numbers the contract states, checked against `chatbot serve` with no configuration at all.

Every other module overrides limits to keep tests fast; this one starts the server exactly as a
newcomer does (no config file, no `CHATBOT_*` variable, the access log on) and checks that the
defaults are the contract's.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

from support import ServerProcess, until

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"
FRAME_LIMIT = 64 * 1024  # the contract's default frame size limit
AUTH_TIMEOUT = 10.0  # the contract's operator auth timeout


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    """`chatbot serve` in an empty folder: the embedded SQLite default, every default setting."""
    leaked = sorted(name for name in os.environ if name.startswith("CHATBOT_"))
    assert not leaked, f"the test environment sets {leaked}: these tests need the defaults"
    process = ServerProcess({}, cwd=tmp_path)
    process.start(tmp_path / "server.log")
    try:
        await process.wait_ready()
        yield process
    finally:
        process.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


def _email() -> str:
    return f"defaults-{uuid.uuid4().hex[:10]}@example.com"


async def _register(http: aiohttp.ClientSession, server: ServerProcess) -> dict[str, Any]:
    async with http.post(
        server.base_url + "/auth/register/", json={"email": _email(), "password": PASSWORD}
    ) as response:
        assert response.status == 201, await response.text()
        body: dict[str, Any] = await response.json()
        return body


async def _chatbot(
    http: aiohttp.ClientSession, server: ServerProcess, access: str
) -> dict[str, Any]:
    async with http.post(
        server.base_url + "/api/chatbots/",
        json={"name": "Defaults", "brain": {"type": "echo"}},
        headers={"Authorization": f"Bearer {access}"},
    ) as response:
        assert response.status == 201, await response.text()
        body: dict[str, Any] = await response.json()
        return body


def _visitor_url(server: ServerProcess, slug: str) -> str:
    return f"{server.base_url}/ws/chat/public/{slug}/"


async def _welcome(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    frame: dict[str, Any] = await ws.receive_json(timeout=10)
    assert frame["type"] == "welcome", frame
    return frame


async def test_login_allows_ten_attempts_a_minute_then_answers_429_with_retry_after(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    email = (await _register(http, server))["user"]["email"]
    statuses = []
    for attempt in range(10):
        password = PASSWORD if attempt % 2 else "not the password"
        async with http.post(
            server.base_url + "/auth/login/", json={"email": email, "password": password}
        ) as response:
            statuses.append(response.status)
    assert statuses == [401, 200] * 5
    async with http.post(
        server.base_url + "/auth/login/", json={"email": email, "password": PASSWORD}
    ) as response:
        assert response.status == 429
        assert int(response.headers["Retry-After"]) > 0
        assert (await response.json())["error"]["code"] == "rate_limited"


async def test_twenty_registrations_a_minute_from_one_address_are_allowed(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    for _ in range(20):
        await _register(http, server)


async def test_sixty_visitor_sockets_from_one_address_may_be_open_at_once(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    access = (await _register(http, server))["access"]
    slug = (await _chatbot(http, server, access))["slug"]
    sockets = []
    try:
        for _ in range(60):  # also 60 connects within the minute
            ws = await http.ws_connect(_visitor_url(server, slug))
            sockets.append(ws)
            await _welcome(ws)
        assert all(not ws.closed for ws in sockets)
    finally:
        for ws in sockets:
            await ws.close()


def _message_frame_of_size(size: int) -> str:
    """A visitor `message` frame of exactly `size` bytes (its text is too long to store)."""
    empty = json.dumps({"type": "message", "text": "", "client_id": "big"})
    return empty.replace('"text": ""', '"text": "' + "x" * (size - len(empty)) + '"')


async def test_a_64_kib_frame_is_read_and_one_byte_more_closes_with_1009(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    access = (await _register(http, server))["access"]
    slug = (await _chatbot(http, server, access))["slug"]
    async with http.ws_connect(_visitor_url(server, slug)) as ws:
        await _welcome(ws)
        frame = _message_frame_of_size(FRAME_LIMIT)
        assert len(frame.encode()) == FRAME_LIMIT
        await ws.send_str(frame)
        while (answer := await ws.receive_json(timeout=10))["type"] != "error":
            pass  # the greeting, sent after the welcome
        assert answer["code"] == "text_too_long"  # read and refused by the protocol, not cut

        await ws.send_str(_message_frame_of_size(FRAME_LIMIT + 1))
        closing = await ws.receive(timeout=10)
        while closing.type not in {WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING}:
            closing = await ws.receive(timeout=10)
        assert ws.close_code == 1009


async def test_an_operator_socket_without_auth_closes_with_4001_after_ten_seconds(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    started = time.monotonic()
    async with http.ws_connect(server.base_url + "/ws/chat/agent/") as ws:
        message = await ws.receive(timeout=AUTH_TIMEOUT + 20)
        elapsed = time.monotonic() - started
    assert message.type in {WSMsgType.CLOSE, WSMsgType.CLOSED}
    assert ws.close_code == 4001
    # Not before the contract's 10 s; the upper bound only says it does not hang forever.
    assert AUTH_TIMEOUT - 0.5 <= elapsed < AUTH_TIMEOUT + 20


async def test_no_secret_reaches_the_log_in_a_scripted_session(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    registered = await _register(http, server)
    email, access = registered["user"]["email"], registered["access"]
    secrets = {"password": PASSWORD, "registration access token": access}
    async with http.post(
        server.base_url + "/auth/login/", json={"email": email, "password": PASSWORD}
    ) as response:
        tokens = await response.json()
    secrets["login access token"] = tokens["access"]
    secrets["refresh token"] = tokens["refresh"]
    async with http.post(
        server.base_url + "/auth/refresh/", json={"refresh": tokens["refresh"]}
    ) as response:
        refreshed = await response.json()
    secrets["refreshed access token"] = refreshed["access"]
    secrets["rotated refresh token"] = refreshed["refresh"]
    slug = (await _chatbot(http, server, refreshed["access"]))["slug"]

    async with http.ws_connect(_visitor_url(server, slug)) as ws:
        visitor_token = (await _welcome(ws))["visitor_token"]
        await ws.send_json({"type": "message", "text": "hello", "client_id": "c1"})
        while (await ws.receive_json(timeout=10)).get("message", {}).get("role") != "bot":
            pass
    secrets["visitor token"] = visitor_token
    # An old widget resumes with the token in the query string: it must not be logged either.
    async with http.ws_connect(
        _visitor_url(server, slug), params={"visitor_token": visitor_token}
    ) as ws:
        await _welcome(ws)
    async with http.ws_connect(
        server.base_url + "/ws/chat/agent/",
        headers={"Authorization": f"Bearer {refreshed['access']}"},
    ) as ws:
        assert (await ws.receive_json(timeout=10))["type"] == "auth_ok"
    async with http.ws_connect(server.base_url + "/ws/chat/agent/") as ws:
        await ws.send_json({"type": "auth", "token": refreshed["access"]})
        assert (await ws.receive_json(timeout=10))["type"] == "auth_ok"
    async with http.post(
        server.base_url + "/auth/logout/", json={"refresh": refreshed["refresh"]}
    ) as response:
        assert response.status == 204

    # A socket's access-log line is written when the server ends it, just after the client.
    visitor_path = f"/ws/chat/public/{slug}/"
    await until(
        lambda: server.output().count(visitor_path) >= 2,
        10,
        "the access log (on by default) never showed both visitor sockets",
    )
    log = server.output()
    leaked = [name for name, secret in secrets.items() if secret in log]
    assert not leaked, f"secrets in the log: {leaked}"
