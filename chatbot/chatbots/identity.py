"""Visitor identity verification: the chatbot's secret and the site's HMAC of a user id.

The site's backend computes `user_hash` = lowercase hex HMAC-SHA256, keyed with the UTF-8
bytes of the chatbot's `identity_secret`, over the UTF-8 `user_id`; the widget passes both on
the visitor socket. Only a pair that matches proves the visitor is that user.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

from chatbot.storage.values import random_secret

Verification = Literal["off", "optional", "required"]
VERIFICATION_MODES: tuple[Verification, ...] = ("off", "optional", "required")
MAX_USER_ID_LENGTH = 255
_HASH_LENGTH = 64  # hex digits of a SHA-256


def new_identity_secret() -> str:
    """A fresh secret: 64 hex characters (256 random bits)."""
    return random_secret()


def user_hash(secret: str, user_id: str) -> str:
    """The hash a site's backend gives its page for `user_id`."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class IdentityCheck:
    """What the pair a socket offered proves: `user_id` when valid, else why not."""

    user_id: str | None
    problem: str | None = None


def check_identity(secret: str, user_id: str | None, offered_hash: str | None) -> IdentityCheck:
    """Whether `offered_hash` is the hash of `user_id` under `secret`, compared in constant time."""
    if not secret:  # never: every chatbot gets one; an empty key would prove nothing
        return IdentityCheck(None, "the chatbot has no identity secret: make one")
    if not user_id and not offered_hash:
        return IdentityCheck(None, "no user_id and user_hash were given")
    if not user_id or not offered_hash:
        missing = "user_hash" if user_id else "user_id"
        return IdentityCheck(None, f"{missing} is missing: give user_id and user_hash together")
    if len(user_id) > MAX_USER_ID_LENGTH:
        return IdentityCheck(None, f"user_id is longer than {MAX_USER_ID_LENGTH} characters")
    try:
        user_id.encode()
    except UnicodeEncodeError:
        return IdentityCheck(None, "user_id is not valid UTF-8 text")
    # Any other length cannot match: no need to hash. Uppercase hex is accepted as well.
    offered = offered_hash.lower().encode("utf-8", "backslashreplace")
    expected = user_hash(secret, user_id).encode()
    if len(offered) != _HASH_LENGTH or not hmac.compare_digest(offered, expected):
        return IdentityCheck(
            None,
            "user_hash does not match user_id: compute it with the chatbot's current "
            "identity_secret (a new secret invalidates the old hashes)",
        )
    return IdentityCheck(user_id)
