"""The auth middleware: a Bearer token on every request to a handler not marked `@public`."""

from __future__ import annotations

from aiohttp import web

from chatbot.auth.context import USER
from chatbot.auth.sessions import authenticate_token
from chatbot.errors import NotAuthenticated
from chatbot.http.routing import Handler, is_public


def bearer_token(request: web.BaseRequest) -> str:
    """The token of `Authorization: Bearer <token>`, or NotAuthenticated saying what is wrong."""
    header = request.headers.get("Authorization")
    if header is None:
        raise NotAuthenticated("authentication required: send Authorization: Bearer <access token>")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise NotAuthenticated(
            "the Authorization header must read 'Bearer <access token>'",
            code="invalid_authorization_header",
        )
    return token


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    match_info = request.match_info
    # Unmatched paths and methods fall through to their JSON 404/405: no route, nothing to guard.
    # Static files are public by nature; every other handler is protected unless marked public.
    if (
        match_info.http_exception is not None
        or is_public(match_info.handler)
        or isinstance(match_info.route.resource, web.StaticResource)
    ):
        return await handler(request)
    request[USER] = await authenticate_token(request.app, bearer_token(request))
    return await handler(request)
