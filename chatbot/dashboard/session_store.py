"""Dashboard sessions kept server-side, in the app's cache: the cookie holds only a random id.

The cache is Redis when configured, so every instance reads the same sessions, and deleting
one (at logout) ends it everywhere at once: a copied cookie then opens nothing. A new id is
issued whenever the logged-in account changes (login, logout), so an id seen before a login
is worth nothing after it. Entries are stored under a digest of the id, so that reading the
cache does not hand out usable cookies.
"""

from __future__ import annotations

import hashlib
import json
import secrets

from aiohttp import web
from aiohttp_session import AbstractStorage, Session, SessionData

from chatbot import keys

# A session without a login holds only its CSRF token and notes: it needs to outlive one form,
# not a month, and strangers can make many.
ANONYMOUS_TTL_SECONDS = 3600
MAX_ID_LENGTH = 64
_LOADED_USER = web.RequestKey("dashboard_loaded_user", str)


def _cache_key(session_id: str) -> str:
    return "dashboard:session:" + hashlib.sha256(session_id.encode()).hexdigest()


def _decode(raw: bytes | None) -> SessionData | None:
    try:
        data = json.loads(raw) if raw is not None else None
    except ValueError:
        return None  # not ours: a new session
    if not isinstance(data, dict):
        return None
    created, mapping = data.get("created"), data.get("session")
    if not isinstance(created, int) or not isinstance(mapping, dict):
        return None
    return SessionData(created=created, session=mapping)


class CacheSessionStorage(AbstractStorage):
    """aiohttp-session storage over the app's cache; `user_key` names the login's entry."""

    def __init__(
        self, *, cookie_name: str, path: str, max_age: int, secure: bool, user_key: str
    ) -> None:
        super().__init__(
            cookie_name=cookie_name,
            path=path,
            max_age=max_age,
            httponly=True,
            samesite="Lax",
            secure=secure,
        )
        self._user_key = user_key

    def _user_of(self, session: Session) -> str:
        user_id = session.get(self._user_key)
        return user_id if isinstance(user_id, str) else ""

    async def load_session(self, request: web.Request) -> Session:
        session_id = self.load_cookie(request)
        data = None
        if isinstance(session_id, str) and 0 < len(session_id) <= MAX_ID_LENGTH:
            data = _decode(await request.app[keys.CACHE].get(_cache_key(session_id)))
        if data is None:
            session = Session(None, data=None, new=True, max_age=self.max_age)
        else:
            session = Session(session_id, data=data, new=False, max_age=self.max_age)
        request[_LOADED_USER] = self._user_of(session)
        return session

    async def save_session(
        self, request: web.Request, response: web.StreamResponse, session: Session
    ) -> None:
        cache = request.app[keys.CACHE]
        previous = session.identity
        user = self._user_of(session)
        renew = previous is None or user != request.get(_LOADED_USER, "")
        if previous is not None and (renew or session.empty):
            await cache.delete(_cache_key(str(previous)))
        if session.empty:
            self.save_cookie(response, "", max_age=session.max_age)
            return
        session_id = secrets.token_urlsafe(32) if renew else str(previous)
        ttl = session.max_age if user and session.max_age else ANONYMOUS_TTL_SECONDS
        data = json.dumps(self._get_session_data(session)).encode()
        await cache.set(_cache_key(session_id), data, ttl)
        self.save_cookie(response, session_id, max_age=ttl)
