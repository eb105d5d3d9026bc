"""Helpers for the API key tests: accounts with their workspace, keys made through the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api_support import bearer, register

from chatbot import keys
from chatbot.workspaces.repository import add_member, memberships
from chatbot.workspaces.roles import Role

from conftest import AppClient


@dataclass(frozen=True)
class Member:
    user_id: str
    headers: dict[str, str]
    workspace_id: str  # the workspace registration made for the account


async def signup(client: AppClient) -> Member:
    """A new account with its own workspace (registration makes it, role owner)."""
    body = await register(client)
    user_id = body["user"]["id"]
    owned = await memberships(client.app[keys.ENGINE], user_id)
    assert len(owned) == 1, owned
    return Member(user_id, bearer(body["access"]), owned[0].workspace_id)


async def join(client: AppClient, member: Member, workspace_id: str, role: str) -> None:
    """Make `member` a member of the workspace with `role` (as an accepted invitation does)."""
    assert await add_member(client.app[keys.ENGINE], workspace_id, member.user_id, Role(role))


def keys_path(workspace_id: str) -> str:
    return f"/api/workspaces/{workspace_id}/api-keys/"


async def create_key(
    client: Any,
    member: Member,
    name: str = "CRM sync",
    workspace_id: str | None = None,
    base_url: str = "",
) -> dict[str, Any]:
    """`POST .../api-keys/` as `member` (in their own workspace unless named): the answer."""
    path = base_url + keys_path(workspace_id or member.workspace_id)
    response = await client.post(path, json={"name": name}, headers=member.headers)
    body: dict[str, Any] = await response.json()
    assert response.status == 201, body
    return body


async def listed(client: AppClient, member: Member) -> list[dict[str, Any]]:
    response = await client.get(keys_path(member.workspace_id), headers=member.headers)
    body = await response.json()
    assert response.status == 200, body
    items: list[dict[str, Any]] = body["items"]
    return items
