"""Request bodies and queries validated into pydantic models at the edge."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from chatbot.errors import InvalidJson, PayloadTooLarge, ValidationFailed

ModelT = TypeVar("ModelT", bound=BaseModel)


def validation_details(error: ValidationError) -> list[dict[str, str]]:
    """Each failing field as {"field", "message"}, the way the API reports them."""
    return [
        {
            "field": ".".join(str(part) for part in issue["loc"]) or "body",
            "message": str(issue["msg"]).removeprefix("Value error, "),
        }
        for issue in error.errors(include_url=False)
    ]


def validate(model: type[ModelT], data: Any, *, strict: bool = False) -> ModelT:
    try:
        return model.model_validate(data, strict=strict)
    except ValidationError as exc:
        fields = validation_details(exc)
        names = ", ".join(sorted({item["field"] for item in fields}))
        raise ValidationFailed(f"invalid fields: {names}", fields=fields) from None


async def read_json(request: web.Request, model: type[ModelT], *, strict: bool = False) -> ModelT:
    """Parse the body as JSON into `model`: 400 invalid_json, 413 too large, 422 invalid fields.

    `strict` takes JSON types as JSON Schema does: `"5"` is not a number, `true` is not 1.
    """
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge(
            f"the request body is larger than {request.client_max_size} bytes"
        ) from None
    if not raw.strip():
        raise InvalidJson("the request body is empty; send a JSON object")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidJson("the request body is not valid JSON") from None
    except RecursionError:
        raise InvalidJson(
            "the request body nests arrays or objects too deeply: no field needs more than "
            "a few levels"
        ) from None
    if not isinstance(data, dict):
        raise ValidationFailed(
            "the request body must be a JSON object",
            fields=[{"field": "body", "message": "expected a JSON object"}],
        )
    return validate(model, data, strict=strict)


def read_query(query: Mapping[str, str], model: type[ModelT]) -> ModelT:
    return validate(model, dict(query))
