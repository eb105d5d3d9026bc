"""Domain and API errors, mapped to HTTP and WebSocket answers in one place.

ApiError
├── InvalidJson             400 invalid_json
├── BadRequest              400 bad_request
├── NotAuthenticated        401 not_authenticated (or a more precise code)
├── Forbidden               403 forbidden
├── NotFound                404 not_found
├── Conflict                409 conflict (email_taken, slug_taken, ...)
├── PayloadTooLarge         413 payload_too_large
├── ValidationFailed        422 validation_error
├── RateLimited             429 rate_limited
└── ServiceUnavailable      503 unavailable
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered as `{"error": {"code", "message", ...}}` with `status`."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.details}}


class InvalidJson(ApiError):
    status = 400
    code = "invalid_json"


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class NotAuthenticated(ApiError):
    status = 401
    code = "not_authenticated"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class ValidationFailed(ApiError):
    status = 422
    code = "validation_error"


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


class ServiceUnavailable(ApiError):
    status = 503
    code = "unavailable"
