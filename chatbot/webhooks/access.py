"""Who may manage a workspace's webhooks."""

from __future__ import annotations

from aiohttp import web

from chatbot.auth.context import current_user
from chatbot.errors import NotFound


async def require_manager(request: web.Request, workspace_id: str) -> None:
    """The caller manages the workspace; otherwise 404, as for a workspace that does not exist.

    Until workspaces have members, an account's own workspace has its id.
    """
    if current_user(request).id != workspace_id:
        raise NotFound(f"no workspace with id {workspace_id!r}", code="workspace_not_found")
