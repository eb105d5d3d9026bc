"""The one authorization check of REST handlers, dashboard views and the operator socket.

A principal that is not a member of a workspace gets 404 for everything in it, exactly as for
a thing that does not exist; a member whose role does not permit the action gets 403.
"""

from __future__ import annotations

from aiohttp import web

from chatbot import keys
from chatbot.errors import ApiError, Forbidden, NotFound
from chatbot.workspaces import repository
from chatbot.workspaces.principal import (
    Principal,
    current_principal,
    memberships_of,
    role_in,
)
from chatbot.workspaces.repository import Membership
from chatbot.workspaces.roles import Action, Role, permits

_REFUSALS = {
    Action.READ: "your role in this workspace may not read it",
    Action.OPERATE: "your role in this workspace may not work its Inbox",
    Action.MANAGE: (
        "only owners and admins may change this workspace's chatbots, knowledge, members, "
        "invitations, API keys and webhooks"
    ),
}


def workspace_not_found(workspace_id: str) -> NotFound:
    return NotFound(f"no workspace with id {workspace_id!r}", code="workspace_not_found")


async def authorize(
    app: web.Application,
    principal: Principal,
    workspace_id: str,
    action: Action,
    *,
    missing: ApiError | None = None,
) -> Role:
    """The principal's role, when it permits `action`; else `missing` (404) or Forbidden."""
    role = await role_in(app, principal, workspace_id)
    if role is None:
        raise missing if missing is not None else workspace_not_found(workspace_id)
    if not permits(role, action):
        raise Forbidden(f"{_REFUSALS[action]} (your role: {role})", code="forbidden")
    return role


async def require(
    request: web.Request, workspace_id: str, action: Action, *, missing: ApiError | None = None
) -> Role:
    """`authorize` for the request's principal: what every handler calls."""
    return await authorize(
        request.app, current_principal(request), workspace_id, action, missing=missing
    )


async def workspaces_of(request: web.Request) -> list[Membership]:
    """The workspaces the request's principal belongs to, oldest first."""
    return await memberships_of(request.app, current_principal(request))


async def default_workspace(request: web.Request) -> str:
    """Where a new chatbot goes when the request names no workspace: the caller's own (the
    oldest they own), else the oldest they may manage."""
    found = await workspaces_of(request)
    for candidates in (
        [m for m in found if m.role is Role.OWNER],
        [m for m in found if permits(m.role, Action.MANAGE)],
    ):
        if candidates:
            return candidates[0].workspace_id
    raise Forbidden(
        "you may not create chatbots in any of your workspaces: ask an owner or admin",
        code="forbidden",
    )


async def acting_user(request: web.Request, workspace_id: str) -> str:
    """The account a change is recorded under: the caller's own, or for a credential bound
    to the workspace (no account of its own), the workspace's first owner."""
    principal = current_principal(request)
    if principal.user_id is not None:
        return principal.user_id
    owner = await repository.first_owner(request.app[keys.ENGINE], workspace_id)
    if owner is None:
        raise workspace_not_found(workspace_id)
    return owner


async def workspace_ids_for(request: web.Request, action: Action) -> list[str]:
    """The ids of the caller's workspaces where their role permits `action`, oldest first."""
    return [m.workspace_id for m in await workspaces_of(request) if permits(m.role, action)]
