"""The dashboard's current workspace: chosen with the switcher, kept in the session.

Every logged-in page loads the user's workspaces once; the chatbots, Inbox, analytics and
Members pages show the current one. A workspace the user left is never current.
"""

from __future__ import annotations

from aiohttp import web

from chatbot.dashboard.session import SESSION
from chatbot.workspaces.principal import Principal, memberships_of
from chatbot.workspaces.repository import Membership
from chatbot.workspaces.roles import Role

CURRENT = "workspace"  # the session key of the chosen workspace's id

WORKSPACES = web.RequestKey[list[Membership]]("dashboard_workspaces")


async def load_workspaces(request: web.Request, user_id: str) -> None:
    """The user's workspaces, for this request's pages."""
    request[WORKSPACES] = await memberships_of(request.app, Principal.member(user_id))


def workspaces_of_page(request: web.Request) -> list[Membership]:
    return request.get(WORKSPACES) or []


def current_workspace(request: web.Request) -> Membership | None:
    """The chosen workspace, else the user's own (the oldest they own), else their oldest."""
    found = workspaces_of_page(request)
    chosen = request[SESSION].get(CURRENT)
    for candidates in (
        [m for m in found if m.workspace_id == chosen],
        [m for m in found if m.role is Role.OWNER],
        found,
    ):
        if candidates:
            return candidates[0]
    return None


def shown_workspace_ids(request: web.Request) -> list[str]:
    """What the lists show: the current workspace (nothing when the user has none)."""
    current = current_workspace(request)
    return [] if current is None else [current.workspace_id]


def choose_workspace(request: web.Request, workspace_id: str) -> bool:
    """Make the workspace current, when the user belongs to it."""
    if not any(m.workspace_id == workspace_id for m in workspaces_of_page(request)):
        return False
    request[SESSION][CURRENT] = workspace_id
    return True
