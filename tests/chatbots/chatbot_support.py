"""Helpers for the chatbot tests: accounts registered through the API, chatbots made by it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from conftest import AppClient

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Account:
    user: dict[str, Any]
    headers: dict[str, str]


async def signup(client: AppClient, name: str = "Ada") -> Account:
    """A new account registered through the API, with its bearer header."""
    email = f"user-{uuid.uuid4().hex[:10]}@example.com"
    response = await client.post(
        "/auth/register/", json={"email": email, "password": PASSWORD, "name": name}
    )
    body = await response.json()
    assert response.status == 201, body
    return Account(user=body["user"], headers={"Authorization": f"Bearer {body['access']}"})


async def new_chatbot(client: AppClient, account: Account, **fields: Any) -> dict[str, Any]:
    """A chatbot created through the API (name "Support" unless given)."""
    response = await client.post(
        "/api/chatbots/", json={"name": "Support", **fields}, headers=account.headers
    )
    body: dict[str, Any] = await response.json()
    assert response.status == 201, body
    return body


async def error_of(response: Any, status: int) -> dict[str, Any]:
    """The contract's error object of a response that must have `status`."""
    body = await response.json()
    assert response.status == status, body
    assert set(body["error"]) >= {"code", "message"}
    error: dict[str, Any] = body["error"]
    return error
