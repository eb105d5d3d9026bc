"""CSRF protection: one random token per session, required in every dashboard form post.

SameSite=Lax already keeps the cookie off cross-site posts in current browsers; the token
also covers older browsers and same-site attackers (another app on a sibling subdomain).
"""

from __future__ import annotations

import hmac
import secrets

from aiohttp_session import Session

CSRF_FIELD = "csrf_token"
_SESSION_KEY = "csrf"
MAX_TOKEN_LENGTH = 256


def csrf_token(session: Session) -> str:
    """The session's token, made on first use (forms embed it in a hidden field)."""
    token = session.get(_SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[_SESSION_KEY] = token
    return token


def csrf_valid(session: Session, sent: object) -> bool:
    """Whether a posted token is the session's own (compared in constant time)."""
    expected = session.get(_SESSION_KEY)
    if not isinstance(expected, str) or not expected:
        return False
    if not isinstance(sent, str) or not sent or len(sent) > MAX_TOKEN_LENGTH:
        return False
    return hmac.compare_digest(expected.encode(), sent.encode("utf-8", "backslashreplace"))
