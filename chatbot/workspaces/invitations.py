"""Invitations to a workspace: a single-use token bound to an email, stored as its hash."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.auth.tokens import token_digest
from chatbot.storage.schema import workspace_invitations, workspace_members, workspaces
from chatbot.storage.values import as_utc, new_id, utcnow
from chatbot.workspaces.repository import Membership, membership
from chatbot.workspaces.roles import Role

TOKEN_BYTES = 32


@dataclass(frozen=True, slots=True)
class Invitation:
    """An invitation as stored (the token itself is never stored)."""

    id: str
    workspace_id: str
    email: str
    role: Role
    created_at: datetime
    expires_at: datetime


def _invitation(row: Any) -> Invitation:
    return Invitation(
        id=row.id,
        workspace_id=row.workspace_id,
        email=row.email,
        role=Role(row.role),
        created_at=as_utc(row.created_at),
        expires_at=as_utc(row.expires_at),
    )


async def create_invitation(
    engine: AsyncEngine,
    *,
    workspace_id: str,
    email: str,
    role: Role,
    invited_by: str | None,
    ttl: timedelta,
) -> tuple[Invitation, str]:
    """A new invitation and its token (shown once: only its hash is kept)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    invitation = Invitation(new_id(), workspace_id, email, role, now, now + ttl)
    async with engine.begin() as connection:
        await connection.execute(
            insert(workspace_invitations).values(
                id=invitation.id,
                workspace_id=workspace_id,
                email=email,
                role=role,
                token_hash=token_digest(token),
                invited_by=invited_by,
                created_at=now,
                expires_at=invitation.expires_at,
            )
        )
    return invitation, token


async def pending_invitations(engine: AsyncEngine, workspace_id: str) -> list[Invitation]:
    """The workspace's invitations not yet accepted nor expired, newest first."""
    i = workspace_invitations.c
    query = (
        select(workspace_invitations)
        .where(i.workspace_id == workspace_id, i.accepted_at.is_(None), i.expires_at > utcnow())
        .order_by(i.created_at.desc(), i.id.desc())
    )
    async with engine.connect() as connection:
        return [_invitation(row) for row in await connection.execute(query)]


async def revoke_invitation(engine: AsyncEngine, workspace_id: str, invitation_id: str) -> bool:
    """Delete a pending invitation; False when there is none with that id in the workspace."""
    i = workspace_invitations.c
    async with engine.begin() as connection:
        result = await connection.execute(
            delete(workspace_invitations).where(
                i.id == invitation_id, i.workspace_id == workspace_id, i.accepted_at.is_(None)
            )
        )
    return bool(result.rowcount)


async def accept_invitation(
    engine: AsyncEngine, token: str, user_id: str, email: str
) -> Membership | None:
    """Use the token: the user joins its workspace with its role (or keeps the role they have).

    None when the token is unknown, used, expired or bound to another email: one answer for
    all, so that a token reveals nothing to whoever is not its addressee.
    """
    try:
        return await _accept(engine, token_digest(token), user_id, email)
    except IntegrityError:
        # Made a member meanwhile by another invitation: what they have now is the answer.
        token_row = await _workspace_of_token(engine, token_digest(token))
        if token_row is None:
            return None
        return await membership(engine, user_id, token_row)


async def _workspace_of_token(engine: AsyncEngine, token_hash: str) -> str | None:
    i = workspace_invitations.c
    async with engine.connect() as connection:
        found = await connection.scalar(select(i.workspace_id).where(i.token_hash == token_hash))
    return None if found is None else str(found)


async def _accept(
    engine: AsyncEngine, token_hash: str, user_id: str, email: str
) -> Membership | None:
    i, m = workspace_invitations.c, workspace_members.c
    now = utcnow()
    async with engine.begin() as connection:
        row = (
            await connection.execute(
                select(workspace_invitations, workspaces.c.name)
                .join(workspaces, workspaces.c.id == i.workspace_id)
                .where(
                    i.token_hash == token_hash,
                    i.accepted_at.is_(None),
                    i.expires_at > now,
                    func.lower(i.email) == email.lower(),
                )
                .with_for_update(of=workspace_invitations)
            )
        ).first()
        if row is None:
            return None
        # Single use even when two requests race: only one update finds it unused.
        used = await connection.execute(
            update(workspace_invitations)
            .where(i.id == row.id, i.accepted_at.is_(None))
            .values(accepted_at=now, accepted_by=user_id)
        )
        if not used.rowcount:
            return None
        current = await connection.scalar(
            select(m.role).where(m.workspace_id == row.workspace_id, m.user_id == user_id)
        )
        if current is not None:  # already a member: an invitation never demotes anyone
            return Membership(row.workspace_id, row.name, Role(current))
        await connection.execute(
            insert(workspace_members).values(
                workspace_id=row.workspace_id, user_id=user_id, role=row.role, created_at=now
            )
        )
    return Membership(row.workspace_id, row.name, Role(row.role))
