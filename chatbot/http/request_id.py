"""Request ids: taken from a sane `X-Request-ID` header or made, echoed on the response."""

from __future__ import annotations

import re
import uuid

from aiohttp import web

from chatbot.http.routing import Handler
from chatbot.logs import current_request_id

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
REQUEST_ID = web.RequestKey("request_id", str)


def request_id_of(request: web.BaseRequest) -> str:
    """The request's id, made on first use so that every log line can name it."""
    existing = request.get(REQUEST_ID)
    if isinstance(existing, str):
        return existing
    given = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = given if _SANE_ID.match(given) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    return request_id


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request_id_of(request)
    # Each request runs in its own task, so log lines anywhere below it name this id.
    current_request_id.set(request_id)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers[REQUEST_ID_HEADER] = request_id
        raise
    if not response.prepared:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response
