"""What an API key looks like: its random text, its stored hash and the hint shown for it."""

from __future__ import annotations

import hashlib
import secrets

# Recognisable in logs, config files and secret scanners; access tokens (JWTs) never start so.
KEY_PREFIX = "cb_live_"
_RANDOM_BYTES = 32  # 256 bits: a plain SHA-256 of the key is then enough to store it
# Shown in lists so that people can tell their keys apart; far too short to guess the rest.
_HINT_LENGTH = len(KEY_PREFIX) + 4
# Longer bearer values are neither keys nor tokens: refused before hashing anything.
MAX_KEY_LENGTH = 128


def new_key() -> str:
    """A fresh key: the prefix and 43 URL-safe characters."""
    return KEY_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)


def is_api_key(token: str) -> bool:
    """Whether a bearer value is meant as an API key (rather than an access token)."""
    return token.startswith(KEY_PREFIX)


def key_digest(key: str) -> str:
    """The hex SHA-256 of a key: what the database keeps, and what lookups go by."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_hint(key: str) -> str:
    """The start of a key, shown next to its name."""
    return key[:_HINT_LENGTH]
