"""The route table: each route answers with and without its trailing slash, no redirect.

Routes carry what the OpenAPI document needs (request and response models, summary) and
whether they are public; everything else is protected by the auth middleware.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_PUBLIC_ATTRIBUTE = "__chatbot_public__"


def public(handler: Handler) -> Handler:
    """Mark a handler as reachable without authentication."""
    setattr(handler, _PUBLIC_ATTRIBUTE, True)
    return handler


def is_public(handler: Any) -> bool:
    return bool(getattr(handler, _PUBLIC_ATTRIBUTE, False))


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # canonical form, with the trailing slash
    handler: Handler
    name: str
    summary: str = ""
    tag: str = ""
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    query: type[BaseModel] | None = None
    in_schema: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def public(self) -> bool:
        return is_public(self.handler)


def path_variants(path: str) -> tuple[str, str]:
    """The path with and without its trailing slash (the root has only one form)."""
    canonical = path if path.endswith("/") else path + "/"
    return canonical, canonical.rstrip("/") or "/"


class RouteTable:
    """Collects routes from each feature and registers every one in both slash forms."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, path: str, handler: Handler, **options: Any) -> Route:
        canonical, _ = path_variants(path)
        name = options.pop("name", None) or handler.__name__
        route = Route(method=method.upper(), path=canonical, handler=handler, name=name, **options)
        self.routes.append(route)
        return route

    def register(self, router: web.UrlDispatcher) -> None:
        for route in self.routes:
            for variant in dict.fromkeys(path_variants(route.path)):
                router.add_route(route.method, variant, route.handler)
