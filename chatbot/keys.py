"""Typed application keys of the shared infrastructure; a feature keys its own objects itself."""

from __future__ import annotations

from aiohttp import ClientSession, web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.backends.broker import Broker
from chatbot.backends.cache import Cache
from chatbot.backends.ratelimit import RateLimiter
from chatbot.config import Settings
from chatbot.http.routing import RouteTable

SETTINGS = web.AppKey("settings", Settings)
ROUTES = web.AppKey("routes", RouteTable)
ENGINE = web.AppKey("engine", AsyncEngine)
REDIS = web.AppKey[Redis | None]("redis")
BROKER = web.AppKey[Broker]("broker")
CACHE = web.AppKey[Cache]("cache")
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
HTTP_CLIENT = web.AppKey("http_client", ClientSession)
