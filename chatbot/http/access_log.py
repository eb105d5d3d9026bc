"""One access-log line per request, with its id, status and duration."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from chatbot.http.request_id import request_id_of
from chatbot.http.routing import Handler

log = logging.getLogger("chatbot.access")


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        if log.isEnabledFor(logging.INFO):
            log.info(
                '%s "%s %s" %d %.1fms',
                request.remote,
                request.method,
                request.rel_url,
                status,
                (time.perf_counter() - started) * 1000,
                extra={"request_id": request_id_of(request)},
            )
