"""Tokens on their own: what is issued, and every way a token is refused."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from chatbot.auth.tokens import TokenCodec, TokenError, signing_key, token_digest

SECRET = "unit-test-secret-key-that-is-long-enough-0123"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def codec(clock: Clock | None = None, **options: object) -> TokenCodec:
    settings: dict[str, object] = {
        "issuer": "chatbot",
        "audience": "chatbot",
        "access_ttl_seconds": 900,
        "refresh_ttl_seconds": 3600,
    }
    settings.update(options)
    return TokenCodec(SECRET, clock=clock or Clock(), **settings)  # type: ignore[arg-type]


def refused(action: object) -> TokenError:
    with pytest.raises(TokenError) as caught:
        action()  # type: ignore[operator]
    return caught.value


def test_an_access_token_is_hs256_with_every_required_claim() -> None:
    clock = Clock()
    token = codec(clock).issue_access("user-1", 3, "token-1")
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "HS256"
    assert claims["typ"] == "access"
    assert claims["sub"] == "user-1"
    assert claims["jti"] == "token-1"
    assert claims["sep"] == 3
    assert claims["iss"] == claims["aud"] == "chatbot"
    assert claims["iat"] == int(clock.now)
    assert claims["exp"] == int(clock.now) + 900


def test_an_access_token_decodes_to_its_user_epoch_and_id() -> None:
    tokens = codec()
    claims = tokens.decode_access(tokens.issue_access("user-1", 7, "token-1"))
    assert (claims.user_id, claims.epoch, claims.token_id) == ("user-1", 7, "token-1")


def test_a_refresh_token_names_its_family_and_expiry() -> None:
    clock = Clock()
    tokens = codec(clock)
    token, expires_at = tokens.issue_refresh("user-1", "family-1", "token-1")
    claims = tokens.decode_refresh(token)
    assert (claims.user_id, claims.family_id, claims.token_id) == ("user-1", "family-1", "token-1")
    assert expires_at.timestamp() == int(clock.now) + 3600


def test_the_signing_key_is_32_bytes_whatever_the_secret() -> None:
    assert len(signing_key("short")) == 32
    assert len(signing_key("x" * 500)) == 32
    assert signing_key("a" * 40) != signing_key("b" * 40)


def test_a_refresh_token_is_never_an_access_token_and_the_reverse() -> None:
    tokens = codec()
    refresh, _ = tokens.issue_refresh("user-1", "family-1", "token-1")
    access = tokens.issue_access("user-1", 0, "token-2")
    assert refused(lambda: tokens.decode_access(refresh)).code == "wrong_token_type"
    assert refused(lambda: tokens.decode_refresh(access)).code == "wrong_token_type"


def test_an_expired_token_is_refused_as_expired() -> None:
    clock = Clock()
    tokens = codec(clock)
    token = tokens.issue_access("user-1", 0, "token-1")
    clock.now += 901
    assert refused(lambda: tokens.decode_access(token)).code == "token_expired"


def test_a_token_from_the_future_is_not_valid_yet() -> None:
    clock = Clock()
    token = codec(Clock(clock.now + 3600)).issue_access("user-1", 0, "token-1")
    assert refused(lambda: codec(clock).decode_access(token)).code == "token_not_yet_valid"


def test_a_token_for_another_issuer_or_audience_is_refused() -> None:
    other_issuer = codec(issuer="elsewhere").issue_access("user-1", 0, "token-1")
    other_audience = codec(audience="elsewhere").issue_access("user-1", 0, "token-1")
    tokens = codec()
    assert "iss" in refused(lambda: tokens.decode_access(other_issuer)).message
    assert "aud" in refused(lambda: tokens.decode_access(other_audience)).message


def test_a_token_signed_with_another_key_is_refused() -> None:
    token = TokenCodec(
        "another-secret-key-also-long-enough-012345",
        issuer="chatbot",
        audience="chatbot",
        access_ttl_seconds=900,
        refresh_ttl_seconds=3600,
    ).issue_access("user-1", 0, "token-1")
    error = refused(lambda: codec().decode_access(token))
    assert error.code == "invalid_token"
    assert "signature" in error.message


def test_alg_none_is_refused() -> None:
    tokens = codec()
    claims = jwt.decode(
        tokens.issue_access("user-1", 0, "token-1"), options={"verify_signature": False}
    )
    unsigned = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    assert refused(lambda: tokens.decode_access(unsigned)).code == "invalid_token"


def test_a_tampered_payload_is_refused() -> None:
    tokens = codec()
    header, payload, signature = tokens.issue_access("user-1", 0, "token-1").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert refused(lambda: tokens.decode_access(f"{header}.{forged}.{signature}")).code == (
        "invalid_token"
    )


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "sub", "jti", "typ"])
def test_a_token_missing_a_required_claim_is_refused(claim: str) -> None:
    clock = Clock()
    payload = {
        "iss": "chatbot",
        "aud": "chatbot",
        "sub": "user-1",
        "jti": "token-1",
        "typ": "access",
        "iat": int(clock.now),
        "exp": int(clock.now) + 60,
        "sep": 0,
    }
    del payload[claim]
    token = jwt.encode(payload, signing_key(SECRET), algorithm="HS256")
    assert refused(lambda: codec(clock).decode_access(token)).code in {
        "invalid_token",
        "wrong_token_type",
    }


@pytest.mark.parametrize(
    "garbage", ["", "garbage", "a.b.c", "ünïcode.token.here", "x" * 5000, "e30.e30."]
)
def test_garbage_is_refused_as_invalid(garbage: str) -> None:
    assert refused(lambda: codec().decode_access(garbage)).code == "invalid_token"


def test_an_access_token_without_its_session_epoch_is_refused() -> None:
    clock = Clock()
    payload = {
        "iss": "chatbot",
        "aud": "chatbot",
        "sub": "user-1",
        "jti": "token-1",
        "typ": "access",
        "iat": int(clock.now),
        "exp": int(clock.now) + 60,
        "sep": "0",
    }
    token = jwt.encode(payload, signing_key(SECRET), algorithm="HS256")
    assert refused(lambda: codec(clock).decode_access(token)).code == "invalid_token"


def test_an_expired_refresh_token_still_names_its_family_for_logout() -> None:
    clock = Clock()
    tokens = codec(clock)
    token, _ = tokens.issue_refresh("user-1", "family-1", "token-1")
    clock.now += 7200
    assert refused(lambda: tokens.decode_refresh(token)).code == "token_expired"
    assert tokens.decode_refresh(token, verify_exp=False).family_id == "family-1"


def test_refresh_tokens_are_stored_as_a_sha256_digest() -> None:
    digest = token_digest("some.refresh.token")
    assert len(digest) == 64
    assert digest != token_digest("some.refresh.tokem")


def test_a_remembered_token_still_expires_on_time() -> None:
    clock = Clock()
    tokens = codec(clock, verified_cache_size=10)
    token = tokens.issue_access("user-1", 0, "token-1")
    assert tokens.decode_access(token).user_id == "user-1"
    clock.now += 899
    assert tokens.decode_access(token).user_id == "user-1"
    clock.now += 1
    assert refused(lambda: tokens.decode_access(token)).code == "token_expired"


def test_only_verified_tokens_are_remembered() -> None:
    tokens = codec(verified_cache_size=10)
    good = tokens.issue_access("user-1", 0, "token-1")
    header, payload, _ = good.split(".")
    forged = f"{header}.{payload}.AAAA"
    for _ in range(2):
        assert refused(lambda: tokens.decode_access(forged)).code == "invalid_token"
    refresh, _ = tokens.issue_refresh("user-1", "family-1", "token-2")
    for _ in range(2):
        assert refused(lambda: tokens.decode_access(refresh)).code == "wrong_token_type"


def test_the_verified_token_memory_is_bounded() -> None:
    tokens = codec(verified_cache_size=3)
    issued = [tokens.issue_access(f"user-{n}", 0, f"token-{n}") for n in range(10)]
    for token in issued:
        tokens.decode_access(token)
    assert len(tokens._verified) == 3
    assert list(tokens._verified) == issued[-3:]
    assert [tokens.decode_access(token).user_id for token in issued] == [
        f"user-{n}" for n in range(10)
    ]


def test_with_no_memory_every_token_is_verified_every_time() -> None:
    tokens = codec(verified_cache_size=0)
    token = tokens.issue_access("user-1", 0, "token-1")
    tokens.decode_access(token)
    assert len(tokens._verified) == 0
