"""Calls to the REST API that many tests make: registering an account, creating a chatbot.

`http` is either the test's in-process client (paths alone) or an aiohttp ClientSession
talking to a real server (`base_url` then names it).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

PASSWORD = "correct horse battery staple"


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _created(
    http: Any, url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """POST `body` and return the answer, which must be `201 Created`."""
    response = await http.post(url, json=body, headers=headers)
    text = await response.text()
    assert response.status == 201, text
    created: dict[str, Any] = json.loads(text)
    return created


async def register(
    http: Any,
    *,
    base_url: str = "",
    email: str | None = None,
    password: str = PASSWORD,
    name: str | None = None,
) -> dict[str, Any]:
    """`POST /auth/register/` (a fresh email unless given); the answer: user, access, refresh."""
    body = {"email": email or unique_email(), "password": password}
    if name is not None:
        body["name"] = name
    return await _created(http, base_url + "/auth/register/", body)


async def create_chatbot(
    http: Any, headers: dict[str, str], *, base_url: str = "", **fields: Any
) -> dict[str, Any]:
    """`POST /api/chatbots/` with these fields, as the account of `headers`."""
    return await _created(http, base_url + "/api/chatbots/", fields, headers)


async def error_of(response: Any, status: int) -> dict[str, Any]:
    """The contract's error object of a response that must have `status`."""
    body = await response.json()
    assert response.status == status, body
    assert set(body["error"]) >= {"code", "message"}
    error: dict[str, Any] = body["error"]
    assert error["code"]
    assert error["message"]
    return error
