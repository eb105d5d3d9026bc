"""Run a handler and report its status and duration, however it ends (for logs and metrics)."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from chatbot.http.routing import Handler


async def handle_timed(
    request: web.Request, handler: Handler, report: Callable[[int, float], None]
) -> web.StreamResponse:
    """`handler(request)`, then `report(status, seconds)`; an unexpected error counts as 500."""
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
        report(status, time.perf_counter() - started)
