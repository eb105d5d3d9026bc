"""JSON responses, encoded the same way everywhere."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    text = data.model_dump_json() if isinstance(data, BaseModel) else dumps(data)
    return web.Response(text=text, status=status, content_type="application/json", headers=headers)


def no_content() -> web.Response:
    return web.Response(status=204)
