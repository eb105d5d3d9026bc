"""Who acts in a request: a member's account, or a credential bound to one workspace.

Every check of what a request may do resolves its principal's workspaces and roles through
`memberships_of` and `role_in`, so that a new kind of principal (an API key acting as an admin
of its one workspace) plugs in by setting `PRINCIPAL` on the request, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from chatbot import keys
from chatbot.auth.context import current_user
from chatbot.workspaces import repository
from chatbot.workspaces.repository import Membership
from chatbot.workspaces.roles import Role


@dataclass(frozen=True, slots=True)
class Principal:
    """A member's account (`user_id`), or a credential bound to `workspace_id` with `role`."""

    user_id: str | None = None
    workspace_id: str | None = None
    role: Role = Role.ADMIN

    @classmethod
    def member(cls, user_id: str) -> Principal:
        """An account: its roles are its memberships, read from the database."""
        return cls(user_id=user_id)

    @classmethod
    def bound(cls, workspace_id: str, role: Role = Role.ADMIN) -> Principal:
        """A credential that acts in one workspace only, with a fixed role."""
        return cls(workspace_id=workspace_id, role=role)


PRINCIPAL = web.RequestKey("principal", Principal)


def current_principal(request: web.Request) -> Principal:
    """The request's principal: one set by an authenticating middleware, else its user."""
    found = request.get(PRINCIPAL)
    if isinstance(found, Principal):
        return found
    return Principal.member(current_user(request).id)


async def memberships_of(app: web.Application, principal: Principal) -> list[Membership]:
    """Every workspace the principal acts in, with its role there, oldest first."""
    engine = app[keys.ENGINE]
    if principal.workspace_id is not None:
        name = await repository.workspace_name(engine, principal.workspace_id)
        return [] if name is None else [Membership(principal.workspace_id, name, principal.role)]
    if principal.user_id is None:
        return []
    return await repository.memberships(engine, principal.user_id)


async def role_in(app: web.Application, principal: Principal, workspace_id: str) -> Role | None:
    """The principal's role in the workspace, or None when it is not a member.

    Read from the database on every call: a removal or a role change holds for the very next
    request, on every instance.
    """
    if principal.workspace_id is not None:
        if principal.workspace_id != workspace_id:
            return None
        exists = await repository.workspace_name(app[keys.ENGINE], workspace_id) is not None
        return principal.role if exists else None
    if principal.user_id is None:
        return None
    found = await repository.membership(app[keys.ENGINE], principal.user_id, workspace_id)
    return None if found is None else found.role
