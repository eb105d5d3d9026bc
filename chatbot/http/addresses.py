"""Client addresses as logs may keep them: whole, or truncated to their network.

With anonymisation on, an IPv4 address keeps its /24 (`203.0.113.77` → `203.0.113.0`) and an
IPv6 address its /48 (`2001:db8:1234:5678::1` → `2001:db8:1234::`): enough to see where
traffic comes from, not who sent it.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from aiohttp import web

# Set by `create_app` from the `privacy.anonymize_addresses` setting.
ANONYMIZE_ADDRESSES = web.AppKey("anonymize_addresses", bool)

IPV4_PREFIX = 24
IPV6_PREFIX = 48


@lru_cache(maxsize=4096)
def truncate_address(address: str) -> str:
    """The address's network (/24 or /48) in its usual spelling; anything that is not an IP
    address (a Unix socket, "unknown") becomes "-", since it cannot be truncated."""
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "-"
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    prefix = IPV4_PREFIX if parsed.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False).network_address)


def loggable_address(address: str | None, anonymize: bool) -> str:
    """What a log line may say of a client address."""
    if address is None:
        return "-"
    return truncate_address(address) if anonymize else address


def request_address_for_log(request: web.Request) -> str:
    """The request's peer address as the app's setting lets logs keep it."""
    return loggable_address(request.remote, request.app.get(ANONYMIZE_ADDRESSES, False))
