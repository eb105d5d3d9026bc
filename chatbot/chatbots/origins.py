"""Allowed origins: which web sites may embed a chatbot, as normalized `scheme://host[:port]`.

`ORIGIN_PATTERN` is the rule, shown as such in the OpenAPI document: a string it matches is an
origin, anything else is refused with the reason. A host is a name (Unicode names are turned into
their `xn--` form, as browsers send them) or a bracketed IPv6 address.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from yarl import URL

from chatbot.fields.types import WHITESPACE, storable
from chatbot.fields.url_patterns import HTTP_SCHEME, IPV6, PORT

_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_ORIGINS = 100
MAX_ORIGIN_LENGTH = 300

# A host name: a letter, digit or `_` (of any script; no other ASCII punctuation, no spaces),
# then those, dots and hyphens. Written flat, and as a negated class, because nested
# repetitions of large character classes make generating examples from the document slow.
_OTHER_EXCLUDED = (
    "\\u003a-\\u0040\\u005b-\\u005e\\u0060\\u007b-\\u00a0"
    "\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
)
_NAME = f"[^\\u0000-\\u002f{_OTHER_EXCLUDED}][^\\u0000-\\u002c\\u002f{_OTHER_EXCLUDED}]*"
_SPACE = "[" + "".join(f"\\u{ord(char):04x}" for char in WHITESPACE) + "]*"
ORIGIN_PATTERN = (
    f"^{_SPACE}(?P<scheme>{HTTP_SCHEME})://"
    f"(?:(?P<name>{_NAME})|\\[(?P<ipv6>{IPV6})\\])"
    f"(?::(?P<port>{PORT}))?/?{_SPACE}$"
)
# The JSON schema's copy has no group names, which ECMA and Python spell differently.
ORIGIN_SCHEMA_PATTERN = re.sub(r"\(\?P<\w+>", "(", ORIGIN_PATTERN)
_ORIGIN = re.compile(ORIGIN_PATTERN)
_EXAMPLE = "like https://www.example.com or http://localhost:3000"


class OriginError(ValueError):
    """The value is not an origin; the message says what to send instead."""


def _host(name: str) -> str:
    if name.isascii():
        return name.lower()
    try:
        return URL.build(scheme="https", host=name).raw_host or name.lower()
    except ValueError:
        # Not a name IDNA can spell: no browser sends such an origin, so it can never match.
        return name.lower()


def normalize_origin(value: str) -> str:
    """`value` as `scheme://host[:port]` (lowercase, default port dropped), or OriginError."""
    fits = len(value) <= MAX_ORIGIN_LENGTH and storable(value)
    match = _ORIGIN.fullmatch(value) if fits else None
    if match is None:
        raise OriginError(_why_not(value))
    scheme = match["scheme"].lower()
    if match["ipv6"] is not None:
        host = f"[{ipaddress.IPv6Address(match['ipv6']).compressed}]"
    else:
        host = _host(match["name"]).rstrip(".")
    port = int(match["port"]) if match["port"] else _DEFAULT_PORTS[scheme]
    if port != _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def _why_not(value: str) -> str:
    """Why `value` is not an origin, as precisely as its shape tells."""
    text = value.strip()
    if len(value) > MAX_ORIGIN_LENGTH:
        return (
            f"{value[:40]!r}... is not an origin: "
            f"an origin has at most {MAX_ORIGIN_LENGTH} characters"
        )
    try:
        url: URL | None = URL(text)
    except (ValueError, TypeError):
        url = None
    if url is None or (url.scheme or "").lower() not in _DEFAULT_PORTS or "://" not in text:
        return f"{value!r} is not an origin: use http:// or https:// and a host, {_EXAMPLE}"
    if url.user is not None or url.password is not None:
        return f"{value!r} is not an origin: remove the user name or password"
    if url.raw_path not in ("", "/") or url.raw_query_string or url.raw_fragment:
        return f"{value!r} is not an origin: remove the path, query and fragment"
    return (
        f"{value!r} is not an origin: use scheme://host[:port] with a host name or [IPv6] "
        f"address and a port from 1 to 65535, {_EXAMPLE}"
    )


def normalize_origins(values: Iterable[str]) -> list[str]:
    """Each origin normalized, duplicates dropped, order kept."""
    normalized = list(dict.fromkeys(normalize_origin(value) for value in values))
    if len(normalized) > MAX_ORIGINS:
        raise OriginError(f"at most {MAX_ORIGINS} allowed origins; list your sites' origins only")
    return normalized


def origin_allowed(origin: str | None, allowed: Sequence[str]) -> bool:
    """Whether a request with this `Origin` header may use a chatbot with these origins.

    No `Origin` header means a non-browser client, which the contract does not refuse; an empty
    list allows every origin.
    """
    if origin is None or not allowed:
        return True
    try:
        return normalize_origin(origin) in allowed
    except OriginError:
        return False
