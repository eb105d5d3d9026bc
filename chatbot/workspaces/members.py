"""Member actions shared by the REST API and the dashboard: each writes, then tells every
instance on the broker (`events.MEMBERSHIP_CHANNEL`), so that open operator sockets can follow.

REST needs no message: the policy reads membership from the database on every request.
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from chatbot import keys
from chatbot.workspaces import invitations, repository
from chatbot.workspaces.events import MEMBERSHIP_CHANNEL, membership_changed
from chatbot.workspaces.invitations import Invitation
from chatbot.workspaces.repository import MemberChange, Membership
from chatbot.workspaces.roles import Role


async def announce(
    app: web.Application, workspace_id: str, user_id: str, role: Role | None
) -> None:
    """Publish that the user's role in the workspace is now `role` (None: they left)."""
    payload = membership_changed(workspace_id, user_id, role)
    await app[keys.BROKER].publish(MEMBERSHIP_CHANNEL, payload)


async def create_workspace(app: web.Application, owner_id: str, name: str) -> Membership:
    """A new workspace with `owner_id` as its owner."""
    created = await repository.create_workspace(app[keys.ENGINE], owner_id, name)
    await announce(app, created.workspace_id, owner_id, Role.OWNER)
    return created


async def invite(
    app: web.Application, workspace_id: str, email: str, role: Role, invited_by: str | None
) -> tuple[Invitation, str]:
    """A new invitation and its token, valid for the configured time."""
    hours = app[keys.SETTINGS].workspaces.invitation_ttl_hours
    return await invitations.create_invitation(
        app[keys.ENGINE],
        workspace_id=workspace_id,
        email=email,
        role=role,
        invited_by=invited_by,
        ttl=timedelta(hours=hours),
    )


async def accept(app: web.Application, token: str, user_id: str, email: str) -> Membership | None:
    """Join the invitation's workspace; None for a token unknown, used, expired or not theirs."""
    joined = await invitations.accept_invitation(app[keys.ENGINE], token, user_id, email)
    if joined is not None:
        await announce(app, joined.workspace_id, user_id, joined.role)
    return joined


async def change_role(
    app: web.Application, workspace_id: str, user_id: str, role: Role
) -> MemberChange:
    """Give a member another role (never taking away the last owner)."""
    outcome = await repository.change_role(app[keys.ENGINE], workspace_id, user_id, role)
    if outcome is MemberChange.DONE:
        await announce(app, workspace_id, user_id, role)
    return outcome


async def remove(app: web.Application, workspace_id: str, user_id: str) -> MemberChange:
    """Remove a member (never the last owner)."""
    outcome = await repository.remove_member(app[keys.ENGINE], workspace_id, user_id)
    if outcome is MemberChange.DONE:
        await announce(app, workspace_id, user_id, None)
    return outcome
