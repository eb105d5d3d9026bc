"""Settings that expose a server beyond its operator: `serve` warns of them, `check` lists them."""

from __future__ import annotations

import ipaddress

from chatbot.config import Settings


def is_loopback(host: str) -> bool:
    """True when `host` is this machine only (127.0.0.1, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name (or an empty host, every address) may reach beyond the machine


def exposed_key_problem(settings: Settings) -> str | None:
    """Why a weak signing key on a network address is dangerous, or None when it is not so."""
    problem = settings.secret_key_problem()
    if problem is None or is_loopback(settings.host):
        return None
    # Production refuses to start with such a key: this is development mode on a network.
    return (
        f"INSECURE: {problem} and the server listens on {settings.host or 'every address'}, "
        "beyond this machine: anyone who reads the public default can forge access tokens to "
        "every account. Set CHATBOT_SECRET_KEY to 32+ random bytes and CHATBOT_ENV=production, "
        "or listen on 127.0.0.1"
    )


def metrics_problem(settings: Settings) -> str | None:
    """What `/metrics` without a token means in this mode, or None when a token guards it."""
    if settings.metrics_token.get_secret_value():
        return None
    if settings.env == "production":
        return (
            "no CHATBOT_METRICS_TOKEN: /metrics answers 404 in production; set a token and "
            "scrape with `Authorization: Bearer <token>`"
        )
    return (
        "/metrics is public (no CHATBOT_METRICS_TOKEN): set a token, or block /metrics at the proxy"
    )


def private_addresses_problem(settings: Settings) -> str | None:
    """Why reaching private addresses is on, or None when it is off."""
    if not settings.brains.allow_private_base_urls:
        return None
    return (
        "brains.allow_private_base_urls is on: any account's openai brain can make this server "
        "call loopback and private addresses (internal services); set "
        "CHATBOT_BRAINS__ALLOW_PRIVATE_BASE_URLS=false unless every account is trusted"
    )
