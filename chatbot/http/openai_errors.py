"""OpenAI's error shape on `/v1/` paths: the contract's `code` and `message`, plus `type` and
`param`, so that OpenAI clients raise their usual exceptions with a readable message."""

from __future__ import annotations

from typing import Any

# OpenAI's `type` of an error by HTTP status; the status decides the client's exception class.
_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    429: "rate_limit_error",
}


def is_openai_path(path: str) -> bool:
    """Whether the path is one of the OpenAI-compatible routes (or would be)."""
    return path == "/v1" or path.startswith("/v1/")


def error_type(status: int) -> str:
    """OpenAI's `type` for an error answered with `status`."""
    if status >= 500:
        return "server_error"
    return _TYPES.get(status, "invalid_request_error")


def openai_error_body(body: dict[str, Any], status: int) -> dict[str, Any]:
    """The contract's error body with OpenAI's `type` and `param` added (`param`: the first
    invalid field, if any)."""
    error = dict(body["error"])
    fields = error.get("fields")
    first = fields[0] if isinstance(fields, list) and fields else None
    error.setdefault("param", first.get("field") if isinstance(first, dict) else None)
    error["type"] = error_type(status)
    return {"error": error}


def shaped_error_body(body: dict[str, Any], status: int, path: str) -> dict[str, Any]:
    """`body` as the path's clients expect it: OpenAI's shape on `/v1/`, unchanged elsewhere."""
    return openai_error_body(body, status) if is_openai_path(path) else body
