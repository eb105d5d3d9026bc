"""The one rate-limit middleware: per address on every request, plus each handler's policies."""

from __future__ import annotations

from aiohttp import web

from chatbot import keys
from chatbot.backends.ratelimit import RateDecision
from chatbot.errors import ApiError
from chatbot.http.errors import error_response
from chatbot.http.routing import Handler
from chatbot.ratelimit.check import RateLimitExceeded, enforce_rate, rate_limit_headers
from chatbot.ratelimit.policies import client_address, handler_policies

# Probes must keep answering however busy an address is: orchestrators poll them.
EXEMPT_PATHS = frozenset({"/healthz", "/healthz/", "/readyz", "/readyz/"})


@web.middleware
async def rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    app = request.app
    settings = app[keys.SETTINGS].rate_limits
    if not settings.enabled:
        return await handler(request)
    policies = handler_policies(request.match_info.handler)
    if request.path not in EXEMPT_PATHS:
        policies = ("per_address", *policies)
    if not policies:
        return await handler(request)
    address = client_address(request, settings.trust_forwarded_for)
    # The decision closest to its limit is the one a client should pace itself by.
    tightest: RateDecision | None = None
    try:
        for policy in policies:
            decision = await enforce_rate(app, policy, address)
            if tightest is None or decision.remaining < tightest.remaining:
                tightest = decision
        response = await handler(request)
    except RateLimitExceeded as exc:
        # Also raised by handlers for their own keys (e.g. login attempts per account).
        refused = error_response(exc, request.path)
        refused.headers.update(rate_limit_headers(exc.decision))
        return refused
    except ApiError as exc:
        # Rendered here rather than by the error middleware so that it keeps the headers.
        response = error_response(exc, request.path)
    except web.HTTPException as exc:
        if tightest is not None:
            exc.headers.update(rate_limit_headers(tightest))
        raise
    if tightest is not None and not response.prepared:
        response.headers.update(rate_limit_headers(tightest))
    return response
