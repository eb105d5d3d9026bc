"""Helpers for the rate-limit tests."""

from __future__ import annotations

import uuid
from typing import Any

from conftest import AppClient

PASSWORD = "correct horse battery staple"
WRONG_PASSWORD = "wrong password"


def unique_email() -> str:
    return f"limit-{uuid.uuid4().hex[:10]}@example.com"


def limits(**policies: Any) -> dict[str, Any]:
    """`rate_limits` settings: generous everywhere except the policies given."""
    values: dict[str, Any] = {
        "per_address": "10000/minute",
        "login_per_address": "10000/minute",
        "login_per_account": "10000/minute",
        "login_failures_per_account_address": "10000/minute",
        "register_per_address": "10000/minute",
    }
    values.update(policies)
    return values


async def register(client: AppClient) -> dict[str, Any]:
    response = await client.post(
        "/auth/register/", json={"email": unique_email(), "password": PASSWORD}
    )
    body: dict[str, Any] = await response.json()
    assert response.status == 201, body
    return body


async def login_status(
    client: AppClient,
    email: str,
    headers: dict[str, str] | None = None,
    password: str = WRONG_PASSWORD,
) -> int:
    response = await client.post(
        "/auth/login/", json={"email": email, "password": password}, headers=headers
    )
    await response.read()
    return response.status
