"""Helpers for the account tests: registering through the API and forging tokens."""

from __future__ import annotations

import time
import uuid
from typing import Any

import api_support
import jwt
from api_support import PASSWORD, bearer, unique_email

from chatbot.auth.tokens import signing_key

from conftest import TEST_SECRET_KEY, AppClient

__all__ = ["PASSWORD", "bearer", "forge", "register", "unique_email"]


async def register(
    client: AppClient, email: str | None = None, password: str = PASSWORD, name: str = "Ada"
) -> dict[str, Any]:
    """Register through the API and return its answer: {"user", "access", "refresh"}."""
    return await api_support.register(client, email=email, password=password, name=name)


def forge(
    *,
    key: bytes | str | None = None,
    algorithm: str = "HS256",
    drop: tuple[str, ...] = (),
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A token shaped like the server's access tokens, with claims overridden or dropped."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": "chatbot",
        "aud": "chatbot",
        "sub": str(uuid.uuid4()),
        "jti": str(uuid.uuid4()),
        "typ": "access",
        "iat": now,
        "exp": now + 600,
        "sep": 0,
    }
    payload.update(claims)
    for name in drop:
        payload.pop(name)
    signing = signing_key(TEST_SECRET_KEY) if key is None else key
    return jwt.encode(payload, signing, algorithm=algorithm, headers=headers)
