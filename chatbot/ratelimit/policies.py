"""Named rate-limit policies, the handlers they guard, and who a request counts against."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

from aiohttp import web

from chatbot.config import RateLimitSettings

# The policies of `Settings.rate_limits`, and what each one counts (for error messages).
POLICIES: dict[str, str] = {
    "per_address": "requests from this address",
    "login_per_address": "login attempts from this address",
    "login_per_account": "failed logins for this account",
    "login_failures_per_account_address": "failed logins for this account from this address",
    "register_per_address": "registrations from this address",
    "ws_connect_per_address": "connections from this address",
    "visitor_messages": "messages in this conversation",
    "per_api_key": "requests with this API key",
}

_LIMITED_ATTRIBUTE = "__chatbot_rate_limits__"

HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])


def limited(*policies: str) -> Callable[[HandlerT], HandlerT]:
    """Count each request to the handler against these policies, keyed by client address."""
    unknown = [name for name in policies if name not in POLICIES]
    if unknown:
        raise ValueError(f"unknown rate-limit policies {unknown}; known: {sorted(POLICIES)}")

    def mark(handler: HandlerT) -> HandlerT:
        setattr(handler, _LIMITED_ATTRIBUTE, policies)
        return handler

    return mark


def handler_policies(handler: Any) -> tuple[str, ...]:
    policies: tuple[str, ...] = getattr(handler, _LIMITED_ATTRIBUTE, ())
    return policies


def policy_rate(settings: RateLimitSettings, policy: str) -> str:
    """The configured rate of a named policy, or `policy` itself when it is a rate already."""
    if policy in POLICIES:
        rate: str = getattr(settings, policy)
        return rate
    return policy


def describe(policy: str) -> str:
    return POLICIES.get(policy, "requests")


def client_address(request: web.BaseRequest, trust_forwarded_for: bool) -> str:
    """Who the request counts against: the peer, or the first X-Forwarded-For hop if trusted.

    Trust it only behind a proxy that sets the header itself; otherwise any client could
    pick a new address for each request and never be limited.
    """
    if trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "")
        first = _normal_address(forwarded.split(",", 1)[0].strip())
        if first is not None:
            return first
    return request.remote or "unknown"


@lru_cache(maxsize=4096)
def _normal_address(text: str) -> str | None:
    """One spelling per address (parsing is slow, and clients repeat), None if malformed."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None  # a malformed header counts against the proxy's own address
