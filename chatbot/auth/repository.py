"""Accounts and refresh tokens in the database (SQLAlchemy Core, one transaction per call)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatbot.storage.schema import refresh_tokens, users
from chatbot.storage.values import as_utc, new_id, utcnow
from chatbot.workspaces.repository import insert_workspace, own_workspace_name


class EmailTaken(Exception):
    """Another account already uses this email."""


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    email: str
    name: str
    password_hash: str
    session_epoch: int
    created_at: datetime


class Rotation(Enum):
    """What became of a refresh token presented for rotation."""

    ROTATED = "rotated"
    UNKNOWN = "unknown"  # no such token (never issued, or its account was deleted)
    REVOKED = "revoked"  # logged out, or its family was revoked
    RECENTLY_ROTATED = "recently_rotated"  # reused within the grace window: refused, kept
    REUSED = "reused"  # reused after the grace window: its whole family is now revoked


_USER_COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.name,
    users.c.password_hash,
    users.c.session_epoch,
    users.c.created_at,
)


def _user(row: Any) -> UserRecord:
    return UserRecord(
        id=row.id,
        email=row.email,
        name=row.name,
        password_hash=row.password_hash,
        session_epoch=row.session_epoch,
        created_at=as_utc(row.created_at),
    )


async def _user_where(connection: AsyncConnection, condition: Any) -> UserRecord | None:
    row = (await connection.execute(select(*_USER_COLUMNS).where(condition))).first()
    return None if row is None else _user(row)


async def insert_user(engine: AsyncEngine, email: str, name: str, password_hash: str) -> UserRecord:
    now = utcnow()
    record = UserRecord(new_id(), email, name, password_hash, 0, now)
    values = {
        "id": record.id,
        "email": email,
        "name": name,
        "password_hash": password_hash,
        "session_epoch": 0,
        "created_at": now,
        "updated_at": now,
    }
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(users).values(**values))
            # Every account starts with its own workspace, so that it works alone at once.
            await insert_workspace(
                connection, name=own_workspace_name(name, email), owner_id=record.id, now=now
            )
    except IntegrityError:
        raise EmailTaken(email) from None
    return record


async def user_by_email(engine: AsyncEngine, email: str) -> UserRecord | None:
    async with engine.connect() as connection:
        return await _user_where(connection, users.c.email == email)


async def user_by_id(engine: AsyncEngine, user_id: str) -> UserRecord | None:
    async with engine.connect() as connection:
        return await _user_where(connection, users.c.id == user_id)


async def update_name(engine: AsyncEngine, user_id: str, name: str) -> UserRecord | None:
    async with engine.begin() as connection:
        await connection.execute(
            update(users).where(users.c.id == user_id).values(name=name, updated_at=utcnow())
        )
        return await _user_where(connection, users.c.id == user_id)


async def update_password_hash(engine: AsyncEngine, user_id: str, password_hash: str) -> None:
    """Store a stronger hash of the same password; sessions are not affected."""
    async with engine.begin() as connection:
        await connection.execute(
            update(users).where(users.c.id == user_id).values(password_hash=password_hash)
        )


async def change_password(
    engine: AsyncEngine, user_id: str, password_hash: str
) -> UserRecord | None:
    """New hash, next session epoch (older access tokens die) and every refresh token revoked."""
    now = utcnow()
    async with engine.begin() as connection:
        await connection.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(
                password_hash=password_hash,
                session_epoch=users.c.session_epoch + 1,
                updated_at=now,
            )
        )
        await connection.execute(
            update(refresh_tokens)
            .where(refresh_tokens.c.user_id == user_id, refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return await _user_where(connection, users.c.id == user_id)


async def delete_user(engine: AsyncEngine, user_id: str) -> bool:
    """Delete the account and, by cascade, everything it owns; False when there was none."""
    async with engine.begin() as connection:
        result = await connection.execute(delete(users).where(users.c.id == user_id))
        return result.rowcount > 0


async def insert_refresh(
    engine: AsyncEngine,
    *,
    token_id: str,
    family_id: str,
    user_id: str,
    token_hash: str,
    expires_at: datetime,
) -> None:
    """Store the first token of a new family, dropping the account's expired ones."""
    now = utcnow()
    async with engine.begin() as connection:
        # Housekeeping at login keeps the table bounded by the sessions still alive.
        await connection.execute(
            delete(refresh_tokens).where(
                refresh_tokens.c.user_id == user_id, refresh_tokens.c.expires_at < now
            )
        )
        await connection.execute(
            insert(refresh_tokens).values(
                id=token_id,
                family_id=family_id,
                user_id=user_id,
                token_hash=token_hash,
                created_at=now,
                expires_at=expires_at,
            )
        )


async def rotate_refresh(
    engine: AsyncEngine,
    *,
    token_id: str,
    token_hash: str,
    user_id: str,
    family_id: str,
    successor_id: str,
    successor_hash: str,
    successor_expires_at: datetime,
    grace: timedelta,
) -> tuple[Rotation, UserRecord | None]:
    """Mark the token used and store its successor, or say why not (revoking on reuse)."""
    now = utcnow()
    async with engine.begin() as connection:
        row = (
            await connection.execute(select(refresh_tokens).where(refresh_tokens.c.id == token_id))
        ).first()
        if (
            row is None
            or row.user_id != user_id
            or row.family_id != family_id
            or not hmac.compare_digest(row.token_hash, token_hash)
        ):
            return Rotation.UNKNOWN, None
        if row.revoked_at is not None:
            return Rotation.REVOKED, None
        if row.used_at is None:
            # The guard on used_at makes two concurrent rotations of one token rotate it once.
            claimed = await connection.execute(
                update(refresh_tokens)
                .where(refresh_tokens.c.id == token_id, refresh_tokens.c.used_at.is_(None))
                .values(used_at=now, replaced_by=successor_id)
            )
            if claimed.rowcount == 1:
                user = await _user_where(connection, users.c.id == user_id)
                if user is None:
                    return Rotation.UNKNOWN, None
                await connection.execute(
                    insert(refresh_tokens).values(
                        id=successor_id,
                        family_id=family_id,
                        user_id=user_id,
                        token_hash=successor_hash,
                        created_at=now,
                        expires_at=successor_expires_at,
                    )
                )
                return Rotation.ROTATED, user
            used_at = now
        else:
            used_at = as_utc(row.used_at)
        if now - used_at <= grace:
            return Rotation.RECENTLY_ROTATED, None
        await _revoke_family(connection, family_id, now)
        return Rotation.REUSED, None


async def _revoke_family(connection: AsyncConnection, family_id: str, now: datetime) -> None:
    await connection.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_family(engine: AsyncEngine, token_id: str, token_hash: str) -> bool:
    """Revoke the family of this stored token; False when the token is not known."""
    async with engine.begin() as connection:
        row = (
            await connection.execute(
                select(refresh_tokens.c.family_id, refresh_tokens.c.token_hash).where(
                    refresh_tokens.c.id == token_id
                )
            )
        ).first()
        if row is None or not hmac.compare_digest(row.token_hash, token_hash):
            return False
        await _revoke_family(connection, row.family_id, utcnow())
        return True
