"""`create_app(settings)`: the one place that wires the application."""

from __future__ import annotations

from aiohttp import web

from chatbot import keys
from chatbot.config import Settings
from chatbot.health.routes import add_health_routes
from chatbot.http.access_log import access_log_middleware
from chatbot.http.errors import error_middleware
from chatbot.http.request_id import request_id_middleware
from chatbot.http.routing import RouteTable
from chatbot.resources import resources_context


def create_app(settings: Settings) -> web.Application:
    """Build the app: middlewares, routes and the context that opens every resource."""
    middlewares = [request_id_middleware]
    if settings.access_log:
        middlewares.append(access_log_middleware)
    middlewares.append(error_middleware)
    app = web.Application(middlewares=middlewares, client_max_size=settings.max_body_bytes)
    app[keys.SETTINGS] = settings
    app.cleanup_ctx.append(resources_context)

    routes = RouteTable()
    add_health_routes(routes)
    routes.register(app.router)
    app[keys.ROUTES] = routes
    return app
