"""The authenticated user of a request, as every feature reads it."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from chatbot.errors import NotAuthenticated


@dataclass(frozen=True, slots=True)
class AuthUser:
    """Who made the request, as proven by a valid access token."""

    id: str
    email: str
    name: str
    created_at: str = ""  # ISO 8601, as the profile shows it


USER = web.RequestKey("user", AuthUser)


def current_user(request: web.Request) -> AuthUser:
    """The request's user; protected handlers can rely on the auth middleware having set it."""
    user = request.get(USER)
    if not isinstance(user, AuthUser):
        raise NotAuthenticated("authentication required: send Authorization: Bearer <access token>")
    return user
