"""Typed application keys: every shared object of the app, created in `create_app`'s context."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import ClientSession, web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.auth.passwords import Passwords
from chatbot.auth.tokens import TokenCodec
from chatbot.backends.broker import Broker
from chatbot.backends.cache import Cache
from chatbot.backends.ratelimit import RateLimiter
from chatbot.config import Settings
from chatbot.http.routing import RouteTable

if TYPE_CHECKING:  # the chat imports this module: its type is named, not imported, at run time
    from chatbot.apikeys.authenticator import KeyAuthenticator
    from chatbot.apikeys.usage import LastUsedRecorder
    from chatbot.chat.service import ChatService
    from chatbot.dashboard.session import DashboardSessions
    from chatbot.knowledge.parse_pool import ParsePool
    from chatbot.webhooks.subscriptions import Subscriptions

SETTINGS = web.AppKey("settings", Settings)
ROUTES = web.AppKey("routes", RouteTable)
ENGINE = web.AppKey("engine", AsyncEngine)
REDIS = web.AppKey[Redis | None]("redis")
BROKER = web.AppKey[Broker]("broker")
CACHE = web.AppKey[Cache]("cache")
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
HTTP_CLIENT = web.AppKey("http_client", ClientSession)
TOKENS = web.AppKey("tokens", TokenCodec)
PASSWORDS = web.AppKey("passwords", Passwords)
OPENAPI_DOCUMENT = web.AppKey("openapi_document", bytes)
# Annotated rather than subscripted, so that linters see the type-only import used.
CHAT: web.AppKey[ChatService] = web.AppKey("chat")
DASHBOARD_SESSIONS: web.AppKey[DashboardSessions] = web.AppKey("dashboard_sessions")
PARSE_POOL: web.AppKey[ParsePool] = web.AppKey("parse_pool")
API_KEYS: web.AppKey[KeyAuthenticator] = web.AppKey("api_keys")
API_KEY_USAGE: web.AppKey[LastUsedRecorder] = web.AppKey("api_key_usage")
WEBHOOKS: web.AppKey[Subscriptions] = web.AppKey("webhooks")
