"""The contract's JSON errors on API paths; unexpected exceptions logged and answered as 500."""

from __future__ import annotations

import logging
from http import HTTPStatus

import asyncpg
from aiohttp import web
from sqlalchemy import exc as sql_errors

from chatbot.errors import ApiError, RateLimited, ServiceUnavailable
from chatbot.http.openai_errors import shaped_error_body
from chatbot.http.request_id import request_id_of
from chatbot.http.responses import json_response
from chatbot.http.routing import Handler

log = logging.getLogger(__name__)

API_PREFIXES = ("/auth/", "/api/", "/v1/", "/ws/")
# The probes answer JSON too, so that their errors read the same as the API's.
API_PATHS = frozenset({*(prefix.rstrip("/") for prefix in API_PREFIXES), "/healthz", "/readyz"})

_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


# Failures to reach the database (down, restarting, gone, pool exhausted): worth a retry.
_UNAVAILABLE = (
    sql_errors.OperationalError,
    sql_errors.InterfaceError,
    sql_errors.TimeoutError,
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
)


def is_dependency_failure(error: BaseException) -> bool:
    """Whether `error` (or what it wraps) means the database could not be reached."""
    seen: BaseException | None = error
    for _ in range(6):
        if seen is None:
            return False
        if isinstance(seen, _UNAVAILABLE) or getattr(seen, "connection_invalidated", False):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES) or path.rstrip("/") in API_PATHS


def error_response(error: ApiError, path: str = "") -> web.Response:
    """The error's JSON answer, in OpenAI's shape when `path` is one of `/v1/`."""
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, RateLimited) else None
    body = shaped_error_body(error.body(), error.status, path)
    return json_response(body, status=error.status, headers=headers)


def _http_exception_body(request: web.Request, exc: web.HTTPException) -> dict[str, object]:
    if exc.status == 404:
        message = f"no such resource: {request.method} {request.path}"
    elif exc.status == 405:
        allowed = ", ".join(sorted(getattr(exc, "allowed_methods", ()) or ()))
        message = f"{request.method} is not allowed on {request.path}; allowed: {allowed}"
    elif exc.status == 413:
        message = f"the request body is larger than {request.client_max_size} bytes"
    else:
        message = exc.text if exc.text and exc.text != exc.reason else HTTPStatus(exc.status).phrase
    code = _HTTP_CODES.get(exc.status, "http_error")
    return shaped_error_body(
        {"error": {"code": code, "message": message}}, exc.status, request.path
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    api = is_api_path(request.path)
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc, request.path)
    except web.HTTPException as exc:
        if not api or exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in {"allow", "retry-after"}}
        return json_response(_http_exception_body(request, exc), status=exc.status, headers=headers)
    except Exception as exc:
        if not is_dependency_failure(exc):
            return _unexpected(request, api)
        request_id = request_id_of(request)
        log.error(
            "database unavailable on %s %s (request id %s): %s",
            request.method,
            request.path,
            request_id,
            " ".join(str(exc).split())[:300],
        )
        error = ServiceUnavailable(
            f"the database is unavailable; try again shortly (request id {request_id})"
        )
        if api:
            return error_response(error, request.path)
        return web.Response(status=503, text=error.message + "\n", content_type="text/plain")


def _unexpected(request: web.Request, api: bool) -> web.Response:
    """Log the exception being handled with the request id; answer without its details."""
    request_id = request_id_of(request)
    log.exception(
        "unexpected error on %s %s (request id %s)",
        request.method,
        request.path,
        request_id,
        extra={"request_id": request_id},
    )
    body = {
        "error": {
            "code": "internal_error",
            "message": f"unexpected server error; quote request id {request_id} when reporting",
        }
    }
    if api:
        return json_response(shaped_error_body(body, 500, request.path), status=500)
    return web.Response(
        status=500,
        text=f"Internal server error. Request id: {request_id}\n",
        content_type="text/plain",
    )
