"""Sessions: issuing, rotating and ending tokens, and checking access tokens cheaply.

An access token carries the account's session epoch. Checking it needs the account's current
epoch and profile, which are kept in the app's cache (Redis when configured, so shared by
every instance) and replaced or dropped whenever they change. A request therefore costs one
cache read, not a database round trip; a cache miss reads the database once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web

from chatbot import keys
from chatbot.auth import repository
from chatbot.auth.context import AuthUser
from chatbot.auth.repository import Rotation, UserRecord
from chatbot.auth.schemas import SessionOut, TokenPair, UserOut
from chatbot.auth.session_events import SESSIONS_CHANNEL, session_ended
from chatbot.auth.setup import TOKENS
from chatbot.auth.tokens import TokenError, token_digest
from chatbot.errors import NotAuthenticated
from chatbot.storage.values import iso, new_id

# How long an instance may trust a cached epoch without reading it again. Every change we make
# replaces the entry at once; the ttl only bounds changes made behind our back (e.g. by SQL).
STATE_TTL_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class SessionState:
    """What checking an access token needs to know about its account."""

    user: AuthUser
    epoch: int


def _cache_key(user_id: str) -> str:
    return f"auth:user:{user_id}"


def _state(record: UserRecord) -> SessionState:
    user = AuthUser(
        id=record.id, email=record.email, name=record.name, created_at=iso(record.created_at) or ""
    )
    return SessionState(user=user, epoch=record.session_epoch)


# Read on every authenticated request, so a plain separated format rather than JSON; the name
# comes last, so that whatever it holds cannot shift the other fields.
_SEPARATOR = "\x1f"


def _encode(state: SessionState) -> bytes:
    user = state.user
    fields = (str(state.epoch), user.email, user.created_at, user.name)
    return _SEPARATOR.join(fields).encode()


def _decode(user_id: str, raw: bytes) -> SessionState | None:
    try:
        epoch, email, created_at, name = raw.decode().split(_SEPARATOR, 3)
        return SessionState(AuthUser(user_id, email, name, created_at), int(epoch))
    except ValueError:  # not ours, or from an older version: read the database instead
        return None


async def remember(app: web.Application, record: UserRecord) -> SessionState:
    """Publish the account's current state to every instance (after each change)."""
    state = _state(record)
    await app[keys.CACHE].set(_cache_key(record.id), _encode(state), STATE_TTL_SECONDS)
    return state


async def end_earlier_sessions(app: web.Application, record: UserRecord) -> None:
    """After a password change: the account's older access tokens fail at once, and its open
    operator sockets close, on every instance."""
    await remember(app, record)
    await app[keys.BROKER].publish(SESSIONS_CHANNEL, session_ended(record.id, record.session_epoch))


async def forget(app: web.Application, user_id: str) -> None:
    """Drop the account's cached state, e.g. after deleting the account."""
    await app[keys.CACHE].delete(_cache_key(user_id))


async def _load(app: web.Application, user_id: str) -> SessionState | None:
    record = await repository.user_by_id(app[keys.ENGINE], user_id)
    return None if record is None else await remember(app, record)


async def session_state(app: web.Application, user_id: str) -> SessionState | None:
    """The account's state from the cache, else from the database; None when it is gone."""
    raw = await app[keys.CACHE].get(_cache_key(user_id))
    state = None if raw is None else _decode(user_id, raw)
    return state if state is not None else await _load(app, user_id)


async def authenticate_token(app: web.Application, token: str) -> AuthUser:
    """The user an access token proves, or NotAuthenticated naming exactly what is wrong."""
    try:
        claims = app[TOKENS].decode_access(token)
    except TokenError as exc:
        raise NotAuthenticated(exc.message, code=exc.code) from None
    state = await session_state(app, claims.user_id)
    if state is not None and claims.epoch > state.epoch:
        # A token newer than what this instance has seen: the cached state is stale.
        state = await _load(app, claims.user_id)
    if state is None:
        raise NotAuthenticated("the account of this token was deleted", code="account_deleted")
    if claims.epoch != state.epoch:
        raise NotAuthenticated(
            "this session ended when the account's password changed: log in again",
            code="session_revoked",
        )
    return state.user


def user_out(user: AuthUser | UserRecord) -> UserOut:
    created_at = user.created_at if isinstance(user, AuthUser) else iso(user.created_at) or ""
    return UserOut(id=user.id, email=user.email, name=user.name, created_at=created_at)


async def start_session(app: web.Application, record: UserRecord) -> SessionOut:
    """A new refresh-token family for the account, and an access token."""
    codec = app[TOKENS]
    family_id, token_id = new_id(), new_id()
    refresh, expires_at = codec.issue_refresh(record.id, family_id, token_id)
    await repository.insert_refresh(
        app[keys.ENGINE],
        token_id=token_id,
        family_id=family_id,
        user_id=record.id,
        token_hash=token_digest(refresh),
        expires_at=expires_at,
    )
    access = codec.issue_access(record.id, record.session_epoch, new_id())
    await remember(app, record)
    return SessionOut(user=user_out(record), access=access, refresh=refresh)


_ROTATION_ERRORS = {
    Rotation.UNKNOWN: (
        "invalid_token",
        "this refresh token is not known here (its account may have been deleted): log in again",
    ),
    Rotation.REVOKED: ("token_revoked", "this refresh token was revoked: log in again"),
    Rotation.RECENTLY_ROTATED: (
        "refresh_token_rotated",
        "this refresh token was just rotated by another request: use its successor",
    ),
    Rotation.REUSED: (
        "refresh_token_reused",
        "this refresh token was already used, so every token of its login was revoked "
        "in case it was stolen: log in again",
    ),
}


async def rotate_session(app: web.Application, refresh: str) -> TokenPair:
    """Trade a refresh token for a new pair; the old one stops working."""
    codec = app[TOKENS]
    try:
        claims = codec.decode_refresh(refresh)
    except TokenError as exc:
        raise NotAuthenticated(exc.message, code=exc.code) from None
    successor_id = new_id()
    successor, expires_at = codec.issue_refresh(claims.user_id, claims.family_id, successor_id)
    outcome, record = await repository.rotate_refresh(
        app[keys.ENGINE],
        token_id=claims.token_id,
        token_hash=token_digest(refresh),
        user_id=claims.user_id,
        family_id=claims.family_id,
        successor_id=successor_id,
        successor_hash=token_digest(successor),
        successor_expires_at=expires_at,
        grace=timedelta(seconds=app[keys.SETTINGS].auth.refresh_reuse_grace_seconds),
    )
    if record is None:
        code, message = _ROTATION_ERRORS[outcome]
        raise NotAuthenticated(message, code=code)
    access = codec.issue_access(record.id, record.session_epoch, new_id())
    return TokenPair(access=access, refresh=successor)


async def end_session(app: web.Application, refresh: str) -> None:
    """Revoke the refresh token's whole family (logout); repeating it is harmless."""
    try:
        # An expired token still names a family worth revoking.
        claims = app[TOKENS].decode_refresh(refresh, verify_exp=False)
    except TokenError as exc:
        raise NotAuthenticated(exc.message, code=exc.code) from None
    known = await repository.revoke_family(app[keys.ENGINE], claims.token_id, token_digest(refresh))
    if not known:
        code, message = _ROTATION_ERRORS[Rotation.UNKNOWN]
        raise NotAuthenticated(message, code=code)


async def delete_account(app: web.Application, user_id: str) -> bool:
    """Delete an account with everything it owns; its tokens stop working on every instance."""
    deleted = await repository.delete_user(app[keys.ENGINE], user_id)
    await forget(app, user_id)
    return deleted
