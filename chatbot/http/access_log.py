"""One access-log line per request, with its id, status and duration."""

from __future__ import annotations

import logging

from aiohttp import web

from chatbot.http.request_id import request_id_of
from chatbot.http.routing import Handler
from chatbot.http.timing import handle_timed

log = logging.getLogger("chatbot.access")


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    def report(status: int, seconds: float) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info(
                '%s "%s %s" %d %.1fms',
                request.remote,
                request.method,
                request.rel_url,
                status,
                seconds * 1000,
                extra={"request_id": request_id_of(request)},
            )

    return await handle_timed(request, handler, report)
