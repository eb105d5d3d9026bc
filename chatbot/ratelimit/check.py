"""Checking a policy from anywhere (middleware, handlers, WebSockets), and its headers."""

from __future__ import annotations

from aiohttp import web

from chatbot import keys
from chatbot.backends.ratelimit import RateDecision, parse_rate
from chatbot.errors import RateLimited
from chatbot.metrics import metrics_of
from chatbot.ratelimit.policies import client_address, describe, policy_rate


class RateLimitExceeded(RateLimited):
    """A request over a policy's limit; carries the decision for the RateLimit headers."""

    def __init__(self, policy: str, decision: RateDecision) -> None:
        super().__init__(
            f"too many {describe(policy)}: at most {decision.limit} every {decision.window} "
            f"seconds; retry in {decision.retry_after} s",
            retry_after=decision.retry_after,
        )
        self.policy = policy
        self.decision = decision


async def check_rate(
    app: web.Application, policy: str, *key: str, count: bool = True
) -> RateDecision:
    """Count one hit of `key` against `policy` (a policy name or a rate like "5/minute").

    Returns the decision, allowed or not; with rate limiting disabled, always allowed.
    `count=False` only asks whether a hit would be allowed now.
    """
    settings = app[keys.SETTINGS].rate_limits
    rate = policy_rate(settings, policy)
    if not settings.enabled:
        item = parse_rate(rate)
        window = item.get_expiry()
        return RateDecision(True, item.amount, item.amount, 0, window)
    limiter = app[keys.RATE_LIMITER]
    decide = limiter.hit if count else limiter.peek
    decision = await decide(rate, policy, *key)
    if not decision.allowed:
        metrics_of(app).rate_limited_total.labels(policy=policy).inc()
    return decision


async def enforce_rate(
    app: web.Application, policy: str, *key: str, count: bool = True
) -> RateDecision:
    """Like `check_rate`, but raise RateLimitExceeded (answered as 429) when over the limit."""
    decision = await check_rate(app, policy, *key, count=count)
    if not decision.allowed:
        raise RateLimitExceeded(policy, decision)
    return decision


def request_address(request: web.Request) -> str:
    """The client address that rate limits count the request against (see `client_address`)."""
    return client_address(request, request.app[keys.SETTINGS].rate_limits.trust_forwarded_for)


def rate_limit_headers(decision: RateDecision) -> dict[str, str]:
    """The RateLimit header fields (IETF httpapi draft) describing one decision."""
    return {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.reset_after),
        "RateLimit-Policy": f"{decision.limit};w={decision.window}",
    }
