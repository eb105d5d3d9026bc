"""Server-rendered pages: the Jinja2 environment shared by the demo page and the dashboard."""

from __future__ import annotations

import aiohttp_jinja2
import jinja2
from aiohttp import web


def setup_templates(app: web.Application) -> None:
    """Templates from `chatbot/templates`, always autoescaped."""
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("chatbot", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def public_origin(request: web.Request) -> str:
    """The origin visitors reach this server at: `public_url`, else what the request says."""
    from chatbot import keys

    configured = request.app[keys.SETTINGS].public_url
    return configured or f"{request.scheme}://{request.host}"
