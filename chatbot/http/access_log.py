"""One access-log line per request, with its id, status and duration; credentials masked,
the client address truncated when the app anonymises addresses."""

from __future__ import annotations

import logging

from aiohttp import web
from yarl import URL

from chatbot.http.addresses import request_address_for_log
from chatbot.http.request_id import request_id_of
from chatbot.http.routing import Handler
from chatbot.http.timing import handle_timed

log = logging.getLogger("chatbot.access")

# Query parameters that carry a credential: a visitor token alone grants a whole conversation.
SENSITIVE_QUERY_PARAMETERS = frozenset(
    {
        "visitor_token",
        "token",
        "access",
        "access_token",
        "refresh",
        "refresh_token",
        "user_hash",
        "key",
        "api_key",
        "password",
        "secret",
        "code",
    }
)
MASK = "***"


def masked_target(url: URL) -> str:
    """The path and query of `url`, each sensitive query parameter's value replaced by ***."""
    query = url.query
    if not any(name.lower() in SENSITIVE_QUERY_PARAMETERS for name in query):
        return str(url)
    masked = [
        (name, MASK if name.lower() in SENSITIVE_QUERY_PARAMETERS else value)
        for name, value in query.items()
    ]
    return str(url.with_query(masked))


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    def report(status: int, seconds: float) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info(
                '%s "%s %s" %d %.1fms',
                request_address_for_log(request),
                request.method,
                masked_target(request.rel_url),
                status,
                seconds * 1000,
                extra={"request_id": request_id_of(request)},
            )

    return await handle_timed(request, handler, report)
