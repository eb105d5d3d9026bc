"""The identity check on its own: what proves a user id, and why anything else does not."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from chatbot.chatbots.identity import (
    MAX_USER_ID_LENGTH,
    check_identity,
    new_identity_secret,
    user_hash,
)

SECRET = "s3cr\u00e9t-with-non-ascii"


def reference(secret: str, user_id: str) -> str:
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    "user_id", ["42", "ada@example.com", "Zo\u00eb \u00b7 \U0001f600", "x" * 255]
)
def test_the_hash_is_the_lowercase_hex_hmac_of_the_utf8_user_id(user_id: str) -> None:
    expected = reference(SECRET, user_id)

    assert user_hash(SECRET, user_id) == expected
    assert check_identity(SECRET, user_id, expected).user_id == user_id
    # Upper-case hex names the same bytes: accepted too.
    assert check_identity(SECRET, user_id, expected.upper()).user_id == user_id


@pytest.mark.parametrize(
    ("user_id", "offered", "reason"),
    [
        (None, None, "no user_id and user_hash"),
        ("", "", "no user_id and user_hash"),
        ("42", None, "user_hash is missing"),
        (None, reference(SECRET, "42"), "user_id is missing"),
        ("42", reference(SECRET, "43"), "does not match"),
        ("42", reference("another secret", "42"), "does not match"),
        ("42", reference(SECRET, "42")[:63], "does not match"),
        ("42", "\u00e9" * 64, "does not match"),
        ("42", "\ud800" * 64, "does not match"),
        ("\ud800", reference(SECRET, "x"), "not valid UTF-8"),
        ("x" * (MAX_USER_ID_LENGTH + 1), reference(SECRET, "x" * 256), "longer than 255"),
    ],
)
def test_anything_else_proves_nothing_and_says_why(
    user_id: str | None, offered: str | None, reason: str
) -> None:
    check = check_identity(SECRET, user_id, offered)

    assert check.user_id is None
    assert check.problem is not None
    assert reason in check.problem


def test_an_empty_secret_proves_nothing_even_with_its_own_hash() -> None:
    assert check_identity("", "42", reference("", "42")).user_id is None


def test_new_secrets_are_64_hex_characters_and_never_repeat() -> None:
    secrets = {new_identity_secret() for _ in range(100)}

    assert len(secrets) == 100
    assert all(len(s) == 64 and int(s, 16) >= 0 for s in secrets)
