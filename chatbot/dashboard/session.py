"""The dashboard's cookie session: encrypted, HttpOnly, SameSite=Lax, Secure over HTTPS.

The cookie holds the user id and the account's session epoch at login: changing the password
bumps the epoch, which ends every dashboard session (and every API token) made before it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from aiohttp import web
from aiohttp_session import Session
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.fernet import Fernet

from chatbot import keys
from chatbot.auth.context import AuthUser
from chatbot.auth.repository import UserRecord
from chatbot.auth.sessions import session_state
from chatbot.config import Settings

COOKIE_NAME = "chatbot_dashboard"
COOKIE_PATH = "/dashboard"
# Derived with its own label, so that the cookie key never equals the token signing key.
_KEY_LABEL = b"chatbot dashboard session key v1"
USER_ID = "user_id"
EPOCH = "epoch"
FLASH = "flash"
MAX_FLASHES = 5

SESSION = web.RequestKey("dashboard_session", Session)


def session_key(secret: str) -> bytes:
    """The 32-byte cookie encryption key, derived from the server's secret key."""
    return hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


def served_over_https(request: web.BaseRequest, settings: Settings) -> bool:
    """Whether the browser talks HTTPS: `public_url`, the connection, or the proxy says so.

    X-Forwarded-Proto is believed without a trusted-proxy setting because it can only add the
    Secure flag: a client that forges it merely gets a cookie its own browser will not send back
    over plain HTTP.
    """
    if settings.public_url.startswith("https://"):
        return True
    if request.secure:
        return True
    forwarded = request.headers.get("X-Forwarded-Proto", "")
    return forwarded.split(",", 1)[0].strip().lower() == "https"


class DashboardSessions:
    """Loads and saves the session cookie; one per app, made from the settings."""

    def __init__(self, settings: Settings) -> None:
        key = session_key(settings.secret_key.get_secret_value())
        fernet = Fernet(base64.urlsafe_b64encode(key))
        self.max_age = settings.auth.refresh_token_ttl_seconds
        self._settings = settings
        # The Secure flag depends on the request, the storage's cookie options do not: one
        # storage for each, sharing the key.
        self._plain, self._secure = (
            EncryptedCookieStorage(
                fernet,
                cookie_name=COOKIE_NAME,
                path=COOKIE_PATH,
                max_age=self.max_age,
                httponly=True,
                samesite="Lax",
                secure=secure,
            )
            for secure in (False, True)
        )

    def _storage(self, request: web.BaseRequest) -> EncryptedCookieStorage:
        return self._secure if served_over_https(request, self._settings) else self._plain

    async def load(self, request: web.Request) -> Session:
        """The request's session; a missing, tampered or expired cookie gives an empty one."""
        session: Session = await self._storage(request).load_session(request)
        return session

    async def save(
        self, request: web.Request, response: web.StreamResponse, session: Session
    ) -> None:
        """Write the cookie when the session changed (an emptied session deletes it)."""
        # aiohttp-session offers no public flag; its own middleware reads this one too.
        if session._changed:
            await self._storage(request).save_session(request, response, session)


def log_in(session: Session, record: UserRecord) -> None:
    """Start a fresh session for the account (nothing of the anonymous one is kept)."""
    session.invalidate()
    session[USER_ID] = record.id
    session[EPOCH] = record.session_epoch


def log_out(session: Session) -> None:
    """Forget the login (the cookie is emptied with the response)."""
    session.invalidate()


async def session_user(app: web.Application, session: Session) -> AuthUser | None:
    """The logged-in account, or None (never logged in, deleted, or its password changed)."""
    user_id = session.get(USER_ID)
    epoch = session.get(EPOCH)
    if not isinstance(user_id, str) or type(epoch) is not int:
        return None
    state = await session_state(app, user_id)
    if state is None or state.epoch != epoch:
        return None
    return state.user


def flash(session: Session, kind: str, text: str) -> None:
    """A note for the next page shown (`kind`: "success" or "error")."""
    notes = list(session.get(FLASH) or [])[-(MAX_FLASHES - 1) :]
    notes.append([kind, text])
    session[FLASH] = notes


def take_flashes(session: Session) -> list[tuple[str, str]]:
    """The notes waiting for this page, removed from the session."""
    notes = session.get(FLASH)
    if not notes:
        return []
    del session[FLASH]
    return [(str(kind), str(text)) for kind, text in notes]


def sessions_of(app: web.Application) -> DashboardSessions:
    """The app's session cookie handler, made by `setup_dashboard`."""
    return app[keys.DASHBOARD_SESSIONS]
