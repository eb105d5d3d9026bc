"""Helpers for the chatbot tests: accounts registered through the API, chatbots made by it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api_support import bearer, create_chatbot, error_of, register

from conftest import AppClient

__all__ = ["Account", "error_of", "new_chatbot", "signup"]


@dataclass(frozen=True)
class Account:
    user: dict[str, Any]
    headers: dict[str, str]


async def signup(client: AppClient, name: str = "Ada") -> Account:
    """A new account registered through the API, with its bearer header."""
    body = await register(client, name=name)
    return Account(user=body["user"], headers=bearer(body["access"]))


async def new_chatbot(client: AppClient, account: Account, **fields: Any) -> dict[str, Any]:
    """A chatbot created through the API (name "Support" unless given)."""
    return await create_chatbot(client, account.headers, **{"name": "Support", **fields})
