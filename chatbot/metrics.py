"""Prometheus metrics: one registry per app, `GET /metrics`, and HTTP latency by route.

HTTP latency is measured here; features record the rest through `metrics_of(app)`, e.g. the
chat feature:

    metrics = metrics_of(request.app)
    metrics.websockets_open.labels(kind="visitor").inc()
    metrics.messages_in_total.inc()
    metrics.bot_answer_seconds.observe(elapsed)
    metrics.rate_limited_total.labels(policy="visitor_messages").inc()
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from chatbot import keys
from chatbot.errors import NotAuthenticated, NotFound
from chatbot.http.routing import Handler, RouteTable, path_variants, public
from chatbot.http.timing import handle_timed

UNMATCHED_ROUTE = "unmatched"
# Clients may send any method token: others are reported as one label, keeping the set bounded.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_ANSWER_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)


class LoopCounter(Collector):
    """A counter that only the event loop adds to: a plain integer, read at each scrape.

    prometheus_client's Counter takes a lock on every `inc`; these count every chat message,
    and under load that lock took a visible share of the event loop's time.
    """

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry) -> None:
        self._name = name
        self._documentation = documentation
        self.value = 0
        registry.register(self)

    def inc(self, amount: int = 1) -> None:
        self.value += amount

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self._name, self._documentation, value=self.value)


@dataclass(frozen=True)
class Metrics:
    """Everything the app measures, registered in the app's own registry."""

    registry: CollectorRegistry
    http_request_seconds: Histogram  # labels: method, route, status
    websockets_open: Gauge  # labels: kind = visitor | operator
    messages_in_total: LoopCounter
    messages_out_total: LoopCounter
    bot_answer_seconds: Histogram
    rate_limited_total: Counter  # labels: policy
    broker_errors_total: Counter
    purged_conversations_total: Counter


METRICS = web.AppKey("metrics", Metrics)
SOCKET_KINDS = ("visitor", "operator")


def create_metrics() -> Metrics:
    """A fresh registry with every metric, so that several apps in one process never collide."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return Metrics(
        registry=registry,
        http_request_seconds=Histogram(
            "chatbot_http_request_duration_seconds",
            "HTTP request latency by route template (WebSocket sessions excluded).",
            ("method", "route", "status"),
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        ),
        websockets_open=Gauge(
            "chatbot_websockets_open",
            "WebSockets open now, by kind (visitor or operator).",
            ("kind",),
            registry=registry,
        ),
        messages_in_total=LoopCounter(
            "chatbot_messages_in",
            "Chat messages received from visitors and operators.",
            registry,
        ),
        messages_out_total=LoopCounter(
            "chatbot_messages_out",
            "Chat message frames sent to sockets.",
            registry,
        ),
        bot_answer_seconds=Histogram(
            "chatbot_bot_answer_seconds",
            "Time from a visitor's message to the bot's stored answer.",
            buckets=_ANSWER_BUCKETS,
            registry=registry,
        ),
        rate_limited_total=Counter(
            "chatbot_rate_limited",
            "Requests and chat messages refused by a rate limit, by policy.",
            ("policy",),
            registry=registry,
        ),
        broker_errors_total=Counter(
            "chatbot_broker_errors",
            "Failed operations on the Redis pub/sub broker (chat keeps delivering locally).",
            registry=registry,
        ),
        purged_conversations_total=Counter(
            "chatbot_purged_conversations",
            "Conversations deleted by the retention job (older than their chatbot keeps them).",
            registry=registry,
        ),
    )


def metrics_of(app: web.Application) -> Metrics:
    """The app's metrics, created by `setup_metrics` in `create_app`."""
    return app[METRICS]


def route_template(request: web.Request) -> str:
    """The matched route's path template (`/api/chatbots/{chatbot_id}`), never the raw path."""
    match_info = request.match_info
    if match_info.http_exception is not None:
        return UNMATCHED_ROUTE
    resource = match_info.route.resource
    if resource is None:
        return UNMATCHED_ROUTE
    # Both slash forms are registered; report them as one route.
    return path_variants(resource.canonical)[1]


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Observe each HTTP request's latency, labelled by method, route template and status."""
    if _is_websocket(request):
        # A socket's "latency" is its lifetime: it would drown the HTTP histogram.
        return await handler(request)
    histogram = metrics_of(request.app).http_request_seconds

    def report(status: int, seconds: float) -> None:
        method = request.method if request.method in _METHODS else "other"
        histogram.labels(method, route_template(request), str(status)).observe(seconds)

    return await handle_timed(request, handler, report)


@public  # it checks its own token: scrapers hold no user account
async def metrics_endpoint(request: web.Request) -> web.Response:
    """Prometheus text exposition of this process's metrics."""
    settings = request.app[keys.SETTINGS]
    token = settings.metrics_token.get_secret_value()
    if not token and settings.env == "production":
        # Process and traffic figures are nobody's business by default: no token, no metrics.
        raise NotFound(
            "GET /metrics is off in production until CHATBOT_METRICS_TOKEN is set; scrape it "
            "with `Authorization: Bearer <metrics_token>`"
        )
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise NotAuthenticated(
                "GET /metrics needs `Authorization: Bearer <metrics_token>` "
                "(the CHATBOT_METRICS_TOKEN setting)"
            )
    body = generate_latest(metrics_of(request.app).registry)
    response = web.Response(body=body)
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response


def setup_metrics(app: web.Application, routes: RouteTable) -> None:
    """Create the app's registry and add `GET /metrics` (the middleware is wired by create_app)."""
    metrics = create_metrics()
    for kind in SOCKET_KINDS:
        metrics.websockets_open.labels(kind)  # scraped as 0 before the first socket
    app[METRICS] = metrics
    routes.add(
        "GET",
        "/metrics",
        metrics_endpoint,
        tag="operations",
        summary="Prometheus metrics of this process",
        errors=(401, 404),
        in_schema=False,
    )
