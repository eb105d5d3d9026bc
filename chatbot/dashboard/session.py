"""The dashboard's session: stored server-side, its id in an HttpOnly, SameSite=Lax cookie.

The session holds the user id and the account's session epoch at login: changing the password
bumps the epoch, which ends every dashboard session (and every API token) made before it.
Logging out deletes the stored session, so its cookie, even copied, opens nothing any more.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp_session import Session

from chatbot.auth.context import AuthUser
from chatbot.auth.repository import UserRecord
from chatbot.auth.sessions import session_state
from chatbot.config import Settings
from chatbot.dashboard.session_store import CacheSessionStorage

COOKIE_NAME = "chatbot_dashboard"
COOKIE_PATH = "/dashboard"
USER_ID = "user_id"
EPOCH = "epoch"
FLASH = "flash"
MAX_FLASHES = 5

SESSION = web.RequestKey("dashboard_session", Session)


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
    """Loads and saves the dashboard's sessions; one per app, made from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.max_age = settings.auth.refresh_token_ttl_seconds
        self._settings = settings
        # The Secure flag depends on the request, the storage's cookie options do not: one
        # storage for each.
        self._plain, self._secure = (
            CacheSessionStorage(
                cookie_name=COOKIE_NAME,
                path=COOKIE_PATH,
                max_age=self.max_age,
                secure=secure,
                user_key=USER_ID,
            )
            for secure in (False, True)
        )

    def _storage(self, request: web.BaseRequest) -> CacheSessionStorage:
        return self._secure if served_over_https(request, self._settings) else self._plain

    async def load(self, request: web.Request) -> Session:
        """The request's session; a missing, unknown or expired id gives an empty one."""
        session: Session = await self._storage(request).load_session(request)
        return session

    async def save(
        self, request: web.Request, response: web.StreamResponse, session: Session
    ) -> None:
        """Store the session when it changed (an emptied session is deleted, with its cookie)."""
        # aiohttp-session offers no public flag; its own middleware reads this one too.
        if session._changed:
            await self._storage(request).save_session(request, response, session)


DASHBOARD_SESSIONS = web.AppKey("dashboard_sessions", DashboardSessions)


def log_in(session: Session, record: UserRecord) -> None:
    """Start a fresh session for the account (nothing of the anonymous one is kept)."""
    session.invalidate()
    session[USER_ID] = record.id
    session[EPOCH] = record.session_epoch


def log_out(session: Session) -> None:
    """Forget the login: its stored session is deleted with the response, on every instance."""
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
    return app[DASHBOARD_SESSIONS]
