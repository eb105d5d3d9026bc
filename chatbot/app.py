"""`create_app(settings)`: the one place that wires the application."""

from __future__ import annotations

from aiohttp import web

from chatbot import keys
from chatbot.apikeys.routes import add_api_key_routes
from chatbot.apikeys.setup import setup_api_keys
from chatbot.auth.middleware import auth_middleware
from chatbot.auth.routes import add_auth_routes
from chatbot.auth.setup import setup_auth
from chatbot.chat.routes import add_chat_routes
from chatbot.chat.setup import setup_chat
from chatbot.chatbots.routes import add_chatbot_routes
from chatbot.config import Settings
from chatbot.conversations.routes import add_conversation_routes
from chatbot.dashboard.routes import setup_dashboard
from chatbot.health.routes import add_health_routes
from chatbot.http.access_log import access_log_middleware
from chatbot.http.addresses import ANONYMIZE_ADDRESSES
from chatbot.http.errors import error_middleware
from chatbot.http.request_id import request_id_middleware
from chatbot.http.routing import RouteTable
from chatbot.knowledge.index import setup_knowledge
from chatbot.knowledge.routes import add_knowledge_routes
from chatbot.metrics import metrics_middleware, setup_metrics
from chatbot.openai_api.routes import add_openai_routes
from chatbot.openapi.routes import setup_openapi
from chatbot.pages import setup_templates
from chatbot.privacy.routes import setup_privacy
from chatbot.ratelimit.middleware import rate_limit_middleware
from chatbot.resources import setup_resources
from chatbot.spend.routes import add_usage_routes
from chatbot.webhooks.routes import add_webhook_routes
from chatbot.webhooks.setup import setup_webhooks
from chatbot.widget.routes import add_widget_routes, setup_static
from chatbot.workspaces.routes import add_workspace_routes


def create_app(settings: Settings) -> web.Application:
    """Build the app: middlewares, routes and the contexts that open its resources and features."""
    middlewares = [request_id_middleware, metrics_middleware]
    if settings.access_log:
        middlewares.append(access_log_middleware)
    middlewares.append(error_middleware)
    middlewares.append(rate_limit_middleware)
    middlewares.append(auth_middleware)
    app = web.Application(middlewares=middlewares, client_max_size=settings.max_body_bytes)
    app[keys.SETTINGS] = settings
    app[ANONYMIZE_ADDRESSES] = settings.anonymize_addresses
    setup_resources(app)
    setup_chat(app)
    setup_webhooks(app)
    setup_auth(app)
    setup_api_keys(app)
    setup_knowledge(app)
    setup_templates(app)

    routes = RouteTable()
    add_health_routes(routes)
    setup_metrics(app, routes)
    add_auth_routes(routes)
    add_chatbot_routes(routes)
    add_knowledge_routes(routes)
    add_conversation_routes(routes)
    add_usage_routes(routes)
    setup_privacy(app, routes)
    add_workspace_routes(routes)
    add_api_key_routes(routes)
    add_chat_routes(routes)
    add_openai_routes(routes)
    add_webhook_routes(routes)
    add_widget_routes(routes)
    setup_dashboard(app, routes)
    setup_openapi(app, routes)
    routes.register(app.router)
    setup_static(app)
    app[keys.ROUTES] = routes
    return app
