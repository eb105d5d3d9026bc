"""Helpers for the conversation tests: an owner with an echo chatbot whose conversations are
made over the real sockets (see `visitor_support`)."""

from __future__ import annotations

from dataclasses import dataclass

from api_support import bearer, create_chatbot, error_of, register
from visitor_support import operator_acts, visitor_says

from conftest import AppClient

__all__ = ["GREETING", "Owner", "error_of", "operator_acts", "owner_with_chatbot", "visitor_says"]

GREETING = "Hi!"


@dataclass(frozen=True)
class Owner:
    headers: dict[str, str]
    chatbot_id: str
    slug: str


async def owner_with_chatbot(client: AppClient) -> Owner:
    """A new account with an echo chatbot that greets: every visitor message gets an answer."""
    headers = bearer((await register(client))["access"])
    chatbot = await create_chatbot(
        client, headers, name="Help", greeting=GREETING, brain={"type": "echo"}
    )
    return Owner(headers=headers, chatbot_id=chatbot["id"], slug=chatbot["slug"])
