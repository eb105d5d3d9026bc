"""Helpers for the workspace tests: accounts, their own workspace, members added directly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api_support import bearer, register

from chatbot import keys
from chatbot.workspaces import repository
from chatbot.workspaces.roles import Role

from conftest import AppClient


@dataclass(frozen=True)
class Account:
    user: dict[str, Any]
    headers: dict[str, str]
    email: str


async def signup(client: AppClient, name: str = "Ada") -> Account:
    """A new account registered through the API, with its bearer header."""
    body = await register(client, name=name)
    return Account(user=body["user"], headers=bearer(body["access"]), email=body["user"]["email"])


async def own_workspace(client: AppClient, account: Account) -> str:
    """The id of the workspace the account got when it registered."""
    found = await repository.memberships(client.app[keys.ENGINE], account.user["id"])
    owned = [m.workspace_id for m in found if m.role is Role.OWNER]
    assert owned, found
    return owned[0]


async def join(client: AppClient, workspace_id: str, account: Account, role: Role) -> None:
    """Make the account a member, as an accepted invitation does."""
    assert await repository.add_member(
        client.app[keys.ENGINE], workspace_id, account.user["id"], role
    )
