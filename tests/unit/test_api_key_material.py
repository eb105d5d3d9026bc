"""API keys as text: recognisable, long, random, stored as their SHA-256."""

from __future__ import annotations

import hashlib

from chatbot.apikeys.key_material import KEY_PREFIX, is_api_key, key_digest, key_hint, new_key


def test_keys_are_long_random_and_recognisable() -> None:
    made = {new_key() for _ in range(1000)}
    assert len(made) == 1000
    for key in made:
        assert key.startswith("cb_live_")
        assert len(key) >= 32
        assert is_api_key(key)
        assert key.isascii()
        assert " " not in key


def test_access_tokens_are_not_taken_for_keys() -> None:
    assert not is_api_key("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln")
    assert not is_api_key("CB_LIVE_" + "a" * 43)
    assert is_api_key(KEY_PREFIX)


def test_a_key_is_stored_as_its_sha256_and_shown_by_its_start() -> None:
    key = new_key()
    assert key_digest(key) == hashlib.sha256(key.encode()).hexdigest()
    assert len(key_digest(key)) == 64
    assert key_hint(key) == key[:12]
    assert key_hint(key).startswith(KEY_PREFIX)
