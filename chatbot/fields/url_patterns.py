"""Regular expressions for URL parts, shared by the fields that document them as a `pattern`.

Written in the subset that ECMA (JSON Schema), Python and Rust regular expressions read alike:
no `\\d` or `\\s` (whose Unicode meaning differs), anchors only around a whole pattern.
"""

from __future__ import annotations

HTTP_SCHEME = "[Hh][Tt][Tt][Pp][Ss]?"
# 1 to 65535, without leading zeros: every port a browser or server can use.
PORT = "(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"

_H16 = "[0-9A-Fa-f]{1,4}"
_LS32 = f"{_H16}:{_H16}"
# RFC 3986's IPv6address (without embedded IPv4): exactly what ipaddress.IPv6Address reads.
IPV6 = (
    "(?:"
    + "|".join(
        (
            f"(?:{_H16}:){{6}}{_LS32}",
            f"::(?:{_H16}:){{5}}{_LS32}",
            f"(?:{_H16})?::(?:{_H16}:){{4}}{_LS32}",
            f"(?:(?:{_H16}:){{0,1}}{_H16})?::(?:{_H16}:){{3}}{_LS32}",
            f"(?:(?:{_H16}:){{0,2}}{_H16})?::(?:{_H16}:){{2}}{_LS32}",
            f"(?:(?:{_H16}:){{0,3}}{_H16})?::{_H16}:{_LS32}",
            f"(?:(?:{_H16}:){{0,4}}{_H16})?::{_LS32}",
            f"(?:(?:{_H16}:){{0,5}}{_H16})?::{_H16}",
            f"(?:(?:{_H16}:){{0,6}}{_H16})?::",
        )
    )
    + ")"
)

# A server's name as written in URLs: letters, digits, `-` and `_` (container names), dots.
# Flat rather than label by label: nested repetitions make generating examples slow.
SERVER_NAME = "[A-Za-z0-9_-][A-Za-z0-9_.-]*"
SERVER_HOST = f"(?:{SERVER_NAME}|\\[{IPV6}\\])"
# RFC 3986 path characters, percent-escapes included; no spaces, quotes or angle brackets.
_PATH_CHAR = "[A-Za-z0-9._~!$&'()*+,;=:@%/-]"
PATH = f"(?:/{_PATH_CHAR}*)?"
QUERY = f"(?:\\?(?:{_PATH_CHAR}|\\?)*)?"
FRAGMENT = f"(?:#(?:{_PATH_CHAR}|\\?)*)?"


def http_url_pattern(*, query: bool) -> str:
    """An http(s) URL with a host, an optional port and path (and query and fragment)."""
    tail = PATH + (QUERY + FRAGMENT if query else "")
    return f"^{HTTP_SCHEME}://{SERVER_HOST}(?::{PORT})?{tail}$"
