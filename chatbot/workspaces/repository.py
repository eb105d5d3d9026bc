"""Workspaces and their members in the database (SQLAlchemy Core, one transaction per call)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatbot.storage.schema import users, workspace_members, workspaces
from chatbot.storage.values import as_utc, new_id, utcnow
from chatbot.workspaces.roles import Role

NAME_MAX = 200


@dataclass(frozen=True, slots=True)
class Membership:
    """A workspace as one of its members sees it: with their role there."""

    workspace_id: str
    name: str
    role: Role


def own_workspace_name(name: str, email: str) -> str:
    """The name of the workspace an account gets when it registers."""
    return f"{name.strip() or email.split('@', 1)[0]}'s workspace"[:NAME_MAX]


async def insert_workspace(
    connection: AsyncConnection, *, name: str, owner_id: str, now: datetime | None = None
) -> Membership:
    """A new workspace with `owner_id` as its owner, in the caller's transaction."""
    created_at = now or utcnow()
    workspace_id = new_id()
    await connection.execute(
        insert(workspaces).values(id=workspace_id, name=name, created_at=created_at)
    )
    await connection.execute(
        insert(workspace_members).values(
            workspace_id=workspace_id, user_id=owner_id, role=Role.OWNER, created_at=created_at
        )
    )
    return Membership(workspace_id, name, Role.OWNER)


async def create_workspace(engine: AsyncEngine, owner_id: str, name: str) -> Membership:
    """A new workspace owned by `owner_id`."""
    async with engine.begin() as connection:
        return await insert_workspace(connection, name=name, owner_id=owner_id)


_MEMBERSHIP_COLUMNS = (workspaces.c.id, workspaces.c.name, workspace_members.c.role)


def _membership(row: Any) -> Membership:
    return Membership(row.id, row.name, Role(row.role))


def _memberships_query(user_id: str) -> Any:
    return (
        select(*_MEMBERSHIP_COLUMNS)
        .join(workspace_members, workspace_members.c.workspace_id == workspaces.c.id)
        .where(workspace_members.c.user_id == user_id)
    )


async def memberships(engine: AsyncEngine, user_id: str) -> list[Membership]:
    """Every workspace the user belongs to, oldest first."""
    query = _memberships_query(user_id).order_by(workspaces.c.created_at, workspaces.c.id)
    async with engine.connect() as connection:
        return [_membership(row) for row in await connection.execute(query)]


async def membership(engine: AsyncEngine, user_id: str, workspace_id: str) -> Membership | None:
    """The user's membership of one workspace, or None when they are not a member."""
    query = _memberships_query(user_id).where(workspaces.c.id == workspace_id)
    async with engine.connect() as connection:
        row = (await connection.execute(query)).first()
    return None if row is None else _membership(row)


async def workspace_name(engine: AsyncEngine, workspace_id: str) -> str | None:
    """The workspace's name, or None when it does not exist."""
    async with engine.connect() as connection:
        name = await connection.scalar(
            select(workspaces.c.name).where(workspaces.c.id == workspace_id)
        )
    return None if name is None else str(name)


async def first_owner(engine: AsyncEngine, workspace_id: str) -> str | None:
    """The user id of the workspace's longest-standing owner, or None."""
    async with engine.connect() as connection:
        user_id = await connection.scalar(
            select(workspace_members.c.user_id)
            .where(
                workspace_members.c.workspace_id == workspace_id,
                workspace_members.c.role == Role.OWNER,
            )
            .order_by(workspace_members.c.created_at, workspace_members.c.user_id)
            .limit(1)
        )
    return None if user_id is None else str(user_id)


async def add_member(engine: AsyncEngine, workspace_id: str, user_id: str, role: Role) -> bool:
    """Make the user a member with `role`; False when they already are one (role unchanged)."""
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(workspace_members).values(
                    workspace_id=workspace_id, user_id=user_id, role=role, created_at=utcnow()
                )
            )
    except IntegrityError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class MemberRecord:
    """A member of a workspace: their account and their role there."""

    user_id: str
    email: str
    name: str
    created_at: datetime  # the account's
    role: Role


class MemberChange(Enum):
    """What became of a role change or a removal."""

    DONE = "done"
    NOT_A_MEMBER = "not_a_member"
    LAST_OWNER = "last_owner"  # refused: the workspace would have no owner left


async def members(engine: AsyncEngine, workspace_id: str) -> list[MemberRecord]:
    """The workspace's members, in the order they joined."""
    query = (
        select(
            users.c.id, users.c.email, users.c.name, users.c.created_at, workspace_members.c.role
        )
        .join(workspace_members, workspace_members.c.user_id == users.c.id)
        .where(workspace_members.c.workspace_id == workspace_id)
        .order_by(workspace_members.c.created_at, users.c.id)
    )
    async with engine.connect() as connection:
        return [
            MemberRecord(row.id, row.email, row.name, as_utc(row.created_at), Role(row.role))
            for row in await connection.execute(query)
        ]


async def _locked_roles(connection: AsyncConnection, workspace_id: str) -> dict[str, Role]:
    """The workspace's members and roles, its row locked until the transaction ends, so that
    two changes cannot both take away its last owner (SQLite serializes writers anyway)."""
    await connection.execute(
        select(workspaces.c.id).where(workspaces.c.id == workspace_id).with_for_update()
    )
    rows = await connection.execute(
        select(workspace_members.c.user_id, workspace_members.c.role).where(
            workspace_members.c.workspace_id == workspace_id
        )
    )
    return {row.user_id: Role(row.role) for row in rows}


def _keeps_an_owner(roles: dict[str, Role], user_id: str, new_role: Role | None) -> bool:
    if roles[user_id] is not Role.OWNER or new_role is Role.OWNER:
        return True
    return sum(role is Role.OWNER for role in roles.values()) > 1


async def change_role(
    engine: AsyncEngine, workspace_id: str, user_id: str, role: Role
) -> MemberChange:
    """Give the member `role`, unless they are the workspace's last owner."""
    member = workspace_members.c
    async with engine.begin() as connection:
        roles = await _locked_roles(connection, workspace_id)
        if user_id not in roles:
            return MemberChange.NOT_A_MEMBER
        if not _keeps_an_owner(roles, user_id, role):
            return MemberChange.LAST_OWNER
        await connection.execute(
            update(workspace_members)
            .where(member.workspace_id == workspace_id, member.user_id == user_id)
            .values(role=role)
        )
    return MemberChange.DONE


async def remove_member(engine: AsyncEngine, workspace_id: str, user_id: str) -> MemberChange:
    """Remove the member, unless they are the workspace's last owner."""
    member = workspace_members.c
    async with engine.begin() as connection:
        roles = await _locked_roles(connection, workspace_id)
        if user_id not in roles:
            return MemberChange.NOT_A_MEMBER
        if not _keeps_an_owner(roles, user_id, None):
            return MemberChange.LAST_OWNER
        await connection.execute(
            delete(workspace_members).where(
                member.workspace_id == workspace_id, member.user_id == user_id
            )
        )
    return MemberChange.DONE
