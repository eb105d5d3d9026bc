"""OpenAPI 3.1 from the route table: the same pydantic models that validate the requests."""

from __future__ import annotations

import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from chatbot.http.routing import Route

OPENAPI_VERSION = "3.1.0"
SECURITY_SCHEME = "bearerAuth"
BEARER_DESCRIPTION = (
    "An account's access token (from /auth/login/), or on /api/ and /v1/ routes a workspace's "
    "API key (it starts with cb_live_ and acts as an admin of that one workspace)."
)
ERROR_SCHEMA = "Error"
_REF = "#/components/schemas/{model}"
# aiohttp's `{name}` or `{name:regex}` (a regex without braces, so the path stays readable).
_PATH_VARIABLE = re.compile(r"\{([^}:]+)(?::([^}]*))?\}")

ERROR_COMPONENT: dict[str, Any] = {
    "type": "object",
    "description": "Every error: a snake_case code and a message a person can act on.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "examples": ["validation_error"]},
                "message": {"type": "string"},
                "fields": {
                    "type": "array",
                    "description": "With validation_error: each invalid field and why.",
                    "items": {
                        "type": "object",
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
                "retry_after": {
                    "type": "integer",
                    "description": "With rate_limited: seconds to wait.",
                },
            },
        }
    },
}

OPENAI_ERROR_SCHEMA = "OpenAIError"
# `/v1/` answers errors in OpenAI's shape, which holds the contract's.
OPENAI_ERROR_COMPONENT: dict[str, Any] = {
    "type": "object",
    "description": "Errors of the OpenAI-compatible routes: OpenAI's shape, with the code.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "type", "param"],
            "properties": {
                **ERROR_COMPONENT["properties"]["error"]["properties"],
                "type": {"type": "string", "examples": ["invalid_request_error"]},
                "param": {"type": ["string", "null"], "examples": ["model"]},
            },
        }
    },
}

_RATE_LIMIT_HEADERS: dict[str, Any] = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "integer"},
    },
    **{
        name: {"description": description, "schema": {"type": schema}}
        for name, description, schema in (
            ("RateLimit-Limit", "Requests allowed in the window.", "integer"),
            ("RateLimit-Remaining", "Requests left in the window.", "integer"),
            ("RateLimit-Reset", "Seconds until the window has room again.", "integer"),
            ("RateLimit-Policy", "The limit and its window, e.g. 10;w=60.", "string"),
        )
    },
}


def openapi_path(path: str) -> str:
    """aiohttp's `{name}` and `{name:regex}` variables as OpenAPI's `{name}`."""
    return _PATH_VARIABLE.sub(lambda match: "{" + match.group(1) + "}", path)


def _error_codes(route: Route, path_variables: list[tuple[str, str]]) -> set[int]:
    """The error statuses any route of this shape may answer, plus the ones it declares."""
    codes = {429, *route.errors}
    if not route.public:
        codes.add(401)
    if route.body is not None:
        codes.update({400, 413, 422})
    if route.query is not None:
        codes.add(422)
    if path_variables:
        codes.add(404)
    return codes


def _error_response(status: int, schema: str = ERROR_SCHEMA) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": HTTPStatus(status).phrase,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model=schema)}}},
    }
    if status == 429:
        response["headers"] = _RATE_LIMIT_HEADERS
    return response


def _event_stream(data: dict[str, Any]) -> dict[str, Any]:
    """Server-sent events whose `data` lines are JSON of one schema, then `data: [DONE]`."""
    return {
        "schema": {
            "type": "string",
            "description": "server-sent events: `data: <JSON>` lines each followed by a blank "
            "line, the JSON as `x-event-data` describes it; the last one is `data: [DONE]`",
        },
        "x-event-data": data,
    }


def _query_parameters(schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", ()))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


class _Models:
    """Every model the routes use, turned into components once, referenced by `$ref`."""

    def __init__(self, routes: list[Route]) -> None:
        wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}
        for route in routes:
            if route.body is not None:
                wanted[(route.body, "validation")] = None
            if route.query is not None:
                wanted[(route.query, "validation")] = None
            if route.response is not None:
                wanted[(route.response, "serialization")] = None
            if (events := route.extra.get("event_stream")) is not None:
                wanted[(events, "serialization")] = None
        refs, definitions = models_json_schema(list(wanted), ref_template=_REF)
        self.refs = refs
        self.components: dict[str, Any] = definitions.get("$defs", {})

    def ref(self, model: type[BaseModel], mode: Literal["validation", "serialization"]) -> Any:
        return self.refs[(model, mode)]

    def resolved(self, model: type[BaseModel]) -> dict[str, Any]:
        reference: str = self.ref(model, "validation")["$ref"]
        schema: dict[str, Any] = self.components[reference.rsplit("/", 1)[1]]
        return schema


def _path_parameter(name: str, regex: str) -> dict[str, Any]:
    """A path variable; one with a regex documents it, since other values never reach it."""
    schema: dict[str, Any] = {"type": "string"}
    if regex:
        schema["pattern"] = f"^(?:{regex})$"
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _operation(route: Route, models: _Models, operation_id: str) -> dict[str, Any]:
    path_variables = _PATH_VARIABLE.findall(route.path)
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": route.summary or route.name,
    }
    if route.tag:
        operation["tags"] = [route.tag]
    if route.handler.__doc__:
        operation["description"] = route.handler.__doc__.strip()
    parameters = [_path_parameter(name, regex) for name, regex in path_variables]
    if route.query is not None:
        parameters.extend(_query_parameters(models.resolved(route.query)))
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": models.ref(route.body, "validation")}},
        }
    success: dict[str, Any] = {"description": HTTPStatus(route.status).phrase}
    if route.response is not None and route.status != 204:
        schema = models.ref(route.response, "serialization")
        success["content"] = {"application/json": {"schema": schema}}
    if (events := route.extra.get("event_stream")) is not None:
        success.setdefault("content", {})["text/event-stream"] = _event_stream(
            models.ref(events, "serialization")
        )
    if headers := route.extra.get("response_headers"):
        success["headers"] = headers
    responses = {str(route.status): success}
    error_schema = OPENAI_ERROR_SCHEMA if route.path.startswith("/v1/") else ERROR_SCHEMA
    for status in sorted(_error_codes(route, path_variables)):
        responses[str(status)] = _error_response(status, error_schema)
    operation["responses"] = responses
    if route.public:
        operation["security"] = []
    operation.update(route.extra.get("openapi", {}))
    return operation


def build_openapi(
    routes: Iterable[Route], *, title: str, version: str, description: str = ""
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route marked `in_schema`."""
    documented = [route for route in routes if route.in_schema]
    models = _Models(documented)
    paths: dict[str, dict[str, Any]] = {}
    used_ids: set[str] = set()
    for route in documented:
        operation_id = route.name
        if operation_id in used_ids:
            operation_id = f"{route.method.lower()}_{route.name}"
        while operation_id in used_ids:
            operation_id += "_"
        used_ids.add(operation_id)
        path = paths.setdefault(openapi_path(route.path), {})
        path[route.method.lower()] = _operation(route, models, operation_id)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {
            "schemas": {
                **models.components,
                ERROR_SCHEMA: ERROR_COMPONENT,
                OPENAI_ERROR_SCHEMA: OPENAI_ERROR_COMPONENT,
            },
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": BEARER_DESCRIPTION,
                }
            },
        },
        "security": [{SECURITY_SCHEME: []}],
    }
