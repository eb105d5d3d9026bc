"""The auth middleware: a Bearer token on every request to a handler not marked `@public`.

The bearer is an account's access token, or (on `/api/` and `/v1/` routes) a workspace's API
key, recognised by its prefix and checked by the API keys' authenticator.
"""

from __future__ import annotations

from aiohttp import web

from chatbot.apikeys.authenticator import API_KEYS
from chatbot.auth.context import USER
from chatbot.auth.sessions import authenticate_token
from chatbot.errors import NotAuthenticated
from chatbot.http.routing import Handler, is_public

# Where an API key may stand in for an account: it acts for a workspace, not for a person.
API_KEY_PATHS = ("/api/", "/v1/")


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
    token = bearer_token(request)
    api_keys = request.app[API_KEYS]
    if not api_keys.recognises(token):
        request[USER] = await authenticate_token(request.app, token)
    elif request.path.startswith(API_KEY_PATHS):
        await api_keys.authenticate(request, token)
    else:
        raise NotAuthenticated(
            "an API key acts for its workspace on /api/ and /v1/ routes only: "
            "log in for an access token to use this route",
            code="api_key_not_accepted",
        )
    return await handler(request)
