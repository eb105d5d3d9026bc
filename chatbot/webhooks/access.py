"""Who may manage a workspace's webhooks: its owners and admins, as the policy says."""

from __future__ import annotations

from aiohttp import web

from chatbot.workspaces.policy import require
from chatbot.workspaces.roles import Action


async def require_manager(request: web.Request, workspace_id: str) -> None:
    """The caller may manage the workspace: agents get 403, non-members 404."""
    await require(request, workspace_id, Action.MANAGE)
