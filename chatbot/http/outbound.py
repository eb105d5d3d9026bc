"""Outbound HTTP to addresses that users choose: the server's own networks stay out of reach.

A URL is checked twice. When it is saved, `url_problem` refuses a host that is, or resolves
to, a loopback, private, link-local, unspecified, multicast, reserved or otherwise non-global
address; a name that does not resolve then is accepted, because it may exist later. When a
connection is made, `guarded_connector` refuses the same addresses again: its resolver drops
them from every lookup, which defeats a name re-pointed after it was saved (DNS rebinding),
and its socket factory checks the address actually connected to, which also covers IP
literals (aiohttp connects to those without asking the resolver).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import re
import socket
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohappyeyeballs import AddrInfoType
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Bounds a lookup at save time; a slow resolver then reads as "does not resolve".
RESOLVE_TIMEOUT_SECONDS = 3.0
# Hosts that socket APIs read as an IPv4 address: decimal (2130706433), hex (0x7f.1), octal.
_NUMERIC_HOST = re.compile(r"[0-9a-fx.]+", re.IGNORECASE)


class RefusedAddress(OSError):
    """A connection to a non-global address, refused by the outbound policy."""

    def __init__(self, message: str) -> None:
        # aiohttp's connection errors show only `strerror`.
        super().__init__(errno.EACCES, message)


def address_allowed(address: IPAddress) -> bool:
    """Whether `address` is a global unicast address (the public internet)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return address_allowed(embedded)
    return address.is_global and not (address.is_multicast or address.is_reserved)


def host_address(host: str) -> IPAddress | None:
    """The address an IP-literal host stands for (in any form a resolver accepts), else None."""
    literal = host.strip("[]")
    try:
        return ipaddress.ip_address(literal)
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(literal):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(literal))
        except OSError:
            return None
    return None


def _refusal(host: str, address: IPAddress) -> str:
    if host.strip("[]") == str(address):
        return f"{host} is not a public internet address"
    return f"{host} is {address}, which is not a public internet address"


async def url_problem(url: str) -> str | None:
    """Why the server must not call `url`, or None when its host is public (or unresolved)."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if not host or host == "localhost" or host.endswith(".localhost"):
        return f"{host or 'an empty host'} is this machine, not a public internet address"
    address = host_address(host)
    if address is not None:
        return None if address_allowed(address) else _refusal(host, address)
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_SECONDS
        )
    except (OSError, TimeoutError, UnicodeError):
        return None  # refused at connection time if it then resolves to a private address
    for info in infos:
        resolved = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not address_allowed(resolved):
            return _refusal(host, resolved)
    return None


class GuardedResolver(AbstractResolver):
    """The default resolver, keeping only public addresses; a name with none left fails."""

    def __init__(self) -> None:
        self._resolver = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._resolver.resolve(host, port, family)
        allowed = [
            result
            for result in results
            if address_allowed(ipaddress.ip_address(result["host"].split("%", 1)[0]))
        ]
        if not allowed:
            raise RefusedAddress(f"{host} resolves only to non-public addresses: refused")
        return allowed

    async def close(self) -> None:
        await self._resolver.close()


def _guarded_socket(addr_info: AddrInfoType) -> socket.socket:
    family, kind, proto, _, sockaddr = addr_info
    address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
    if not address_allowed(address):
        raise RefusedAddress(f"{address} is not a public internet address: refused")
    return socket.socket(family=family, type=kind, proto=proto)


def guarded_connector(allow_private: bool, **options: Any) -> aiohttp.TCPConnector:
    """A connector for user-chosen URLs: public addresses only, unless `allow_private`."""
    if allow_private:
        return aiohttp.TCPConnector(**options)
    return aiohttp.TCPConnector(
        resolver=GuardedResolver(), socket_factory=_guarded_socket, **options
    )
