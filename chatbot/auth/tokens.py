"""Access and refresh tokens: HS256 JWTs with pinned algorithm, required claims and a type."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

ALGORITHM = "HS256"
ACCESS = "access"
REFRESH = "refresh"
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti", "typ"]
# Instances' clocks may differ a little: a token issued "now" elsewhere is not from the future.
CLOCK_SKEW_SECONDS = 5
# The signing key is derived from the secret with a purpose label, so the secret's other uses
# (e.g. dashboard cookies) never share a key with tokens, and the key is always 32 bytes.
_KEY_LABEL = b"chatbot jwt signing key v1"


class TokenError(Exception):
    """A token that must not be accepted; `code` is the API error code to answer with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    epoch: int
    token_id: str
    expires_at: float  # seconds since the epoch, as `exp`


@dataclass(frozen=True, slots=True)
class RefreshClaims:
    user_id: str
    family_id: str
    token_id: str


def signing_key(secret: str) -> bytes:
    """The 32-byte HMAC key for tokens, derived from the server's secret key."""
    return hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


def token_digest(token: str) -> str:
    """What the database stores instead of a refresh token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def _decode_error(exc: jwt.InvalidTokenError) -> TokenError:
    if isinstance(exc, jwt.InvalidIssuerError):
        return TokenError("invalid_token", "the token was issued by another server (iss)")
    if isinstance(exc, jwt.InvalidAudienceError):
        return TokenError("invalid_token", "the token was issued for another audience (aud)")
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return TokenError("invalid_token", f"the token lacks the required claim '{exc.claim}'")
    if isinstance(exc, jwt.InvalidSignatureError):
        return TokenError("invalid_token", "the token's signature does not match")
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return TokenError("invalid_token", f"the token is not signed with {ALGORITHM}")
    return TokenError("invalid_token", "the token is malformed")


class TokenCodec:
    """Issues and verifies this server's tokens; pure, no I/O."""

    def __init__(
        self,
        secret: str,
        *,
        issuer: str,
        audience: str,
        access_ttl_seconds: int,
        refresh_ttl_seconds: int,
        verified_cache_size: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = signing_key(secret)
        self._issuer = issuer
        self._audience = audience
        self.access_ttl_seconds = access_ttl_seconds
        self.refresh_ttl_seconds = refresh_ttl_seconds
        self._clock = clock
        # token -> (claims, exp). Verifying costs far more than serving a request, and clients
        # send the same access token until it expires; only fully verified tokens get in, and
        # their expiry is checked again on every use. Revocation is checked elsewhere, always.
        self._verified: OrderedDict[str, tuple[AccessClaims, float]] = OrderedDict()
        self._verified_cache_size = verified_cache_size
        # Times are checked below against our own clock, the rest by PyJWT.
        self._decoder = jwt.PyJWT(
            {
                "require": REQUIRED_CLAIMS,
                "verify_signature": True,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            }
        )

    def _encode(self, typ: str, subject: str, token_id: str, ttl: int, **claims: Any) -> str:
        now = int(self._clock())
        payload = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject,
            "jti": token_id,
            "typ": typ,
            "iat": now,
            "exp": now + ttl,
            **claims,
        }
        return jwt.encode(payload, self._key, algorithm=ALGORITHM)

    def issue_access(self, user_id: str, epoch: int, token_id: str) -> str:
        return self._encode(ACCESS, user_id, token_id, self.access_ttl_seconds, sep=epoch)

    def issue_refresh(self, user_id: str, family_id: str, token_id: str) -> tuple[str, datetime]:
        """A refresh token and when it expires."""
        token = self._encode(REFRESH, user_id, token_id, self.refresh_ttl_seconds, fam=family_id)
        expires_at = datetime.fromtimestamp(int(self._clock()) + self.refresh_ttl_seconds, UTC)
        return token, expires_at

    def _decode(self, token: str, typ: str, *, verify_exp: bool = True) -> dict[str, Any]:
        # Non-ASCII cannot be part of a JWT; refusing it early also spares PyJWT odd input.
        if not token or not token.isascii():
            raise TokenError("invalid_token", "the token is malformed")
        try:
            payload: dict[str, Any] = self._decoder.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
            )
        except jwt.InvalidTokenError as exc:
            raise _decode_error(exc) from None
        self._check_times(payload, verify_exp)
        if payload.get("typ") != typ:
            wanted = "an access" if typ == ACCESS else "a refresh"
            raise TokenError("wrong_token_type", f"{wanted} token is required here")
        if not isinstance(payload["sub"], str) or not isinstance(payload["jti"], str):
            raise TokenError("invalid_token", "the token's sub and jti must be strings")
        return payload

    def _check_times(self, payload: dict[str, Any], verify_exp: bool) -> None:
        times = [payload["exp"], payload["iat"], payload.get("nbf", 0)]
        if not all(type(value) in (int, float) for value in times):
            raise TokenError("invalid_token", "the token's exp, iat and nbf must be numbers")
        now = self._clock()
        if verify_exp and now >= payload["exp"]:
            raise TokenError("token_expired", "the token has expired: refresh it or log in again")
        if max(payload["iat"], payload.get("nbf", 0)) > now + CLOCK_SKEW_SECONDS:
            raise TokenError(
                "token_not_yet_valid", "the token is not valid yet (nbf/iat in future)"
            )

    def decode_access(self, token: str) -> AccessClaims:
        remembered = self._verified.get(token)
        if remembered is not None:
            claims, expires_at = remembered
            if self._clock() < expires_at:
                self._verified.move_to_end(token)
                return claims
            del self._verified[token]
        payload = self._decode(token, ACCESS)
        epoch = payload.get("sep")
        if type(epoch) is not int:
            raise TokenError("invalid_token", "the token lacks its session epoch")
        claims = AccessClaims(
            user_id=payload["sub"],
            epoch=epoch,
            token_id=payload["jti"],
            expires_at=float(payload["exp"]),
        )
        if self._verified_cache_size:
            self._verified[token] = (claims, claims.expires_at)
            if len(self._verified) > self._verified_cache_size:
                self._verified.popitem(last=False)
        return claims

    def decode_refresh(self, token: str, *, verify_exp: bool = True) -> RefreshClaims:
        payload = self._decode(token, REFRESH, verify_exp=verify_exp)
        family_id = payload.get("fam")
        if not isinstance(family_id, str):
            raise TokenError("invalid_token", "the refresh token lacks its family")
        return RefreshClaims(user_id=payload["sub"], family_id=family_id, token_id=payload["jti"])
