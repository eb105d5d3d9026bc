"""Workspaces and their members in the database (SQLAlchemy Core, one transaction per call)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatbot.storage.schema import workspace_members, workspaces
from chatbot.storage.values import new_id, utcnow
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
