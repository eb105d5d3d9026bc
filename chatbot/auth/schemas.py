"""Request and response bodies of the account routes, validated at the edge."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MIN_PASSWORD_LENGTH = 8
# The model's own cap, the highest `auth.max_password_length` may be set to; the configured
# (lower) limit is checked by the handlers before anything is hashed.
PASSWORD_LENGTH_CAP = 65_536
MAX_EMAIL_LENGTH = 320
MAX_NAME_LENGTH = 200

# Pragmatic, not RFC 5322: one @, a local part, and a domain of dot-separated labels.
_EMAIL = re.compile(r"^[^@\s]{1,64}@(?:[^@\s.]+\.)+[^@\s.]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _encodable(value: str) -> str:
    # JSON may carry lone surrogates ("\ud800"), which neither the hasher nor the database take.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


def normalize_email(value: str) -> str:
    """Trimmed and lowercased, so that one address is one account however it is typed."""
    # Control characters are refused before trimming: str.strip() would eat some of them.
    problem = "must be an email address like name@example.com"
    if _CONTROL.search(_encodable(value)):
        raise ValueError(problem)
    email = value.strip().lower()
    if not _EMAIL.match(email):
        raise ValueError(problem)
    return email


def _clean_name(value: str) -> str:
    if _CONTROL.search(_encodable(value)):
        raise ValueError("must not contain control characters")
    return value.strip()


Email = Annotated[
    str,
    Field(max_length=MAX_EMAIL_LENGTH, json_schema_extra={"format": "email"}),
    AfterValidator(normalize_email),
]
Name = Annotated[
    str,
    Field(max_length=MAX_NAME_LENGTH, json_schema_extra={"pattern": r"^[^\u0000-\u001f\u007f]*$"}),
    AfterValidator(_clean_name),
]
NewPassword = Annotated[
    str,
    Field(min_length=MIN_PASSWORD_LENGTH, max_length=PASSWORD_LENGTH_CAP),
    AfterValidator(_encodable),
]
GivenPassword = Annotated[
    str, Field(min_length=1, max_length=PASSWORD_LENGTH_CAP), AfterValidator(_encodable)
]
Token = Annotated[str, Field(min_length=1, max_length=4096)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterBody(_Body):
    """A new account."""

    email: Email
    password: NewPassword
    name: Name = ""


class LoginBody(_Body):
    """Credentials to exchange for tokens."""

    email: Email
    password: GivenPassword


class RefreshBody(_Body):
    """A refresh token to rotate, or to revoke on logout."""

    refresh: Token


class ProfileUpdate(_Body):
    """The profile fields to change; those left out stay as they are."""

    name: Name | None = None


class PasswordChange(_Body):
    """The current password, proving it is the owner, and the new one."""

    current_password: GivenPassword
    new_password: NewPassword


class UserOut(BaseModel):
    """An account as the API shows it."""

    id: str
    email: str
    name: str
    created_at: str = Field(description="ISO 8601 time")


class TokenPair(BaseModel):
    """A short-lived access token and the refresh token that renews it."""

    access: str
    refresh: str


class SessionOut(BaseModel):
    """A new session: the account and its tokens."""

    user: UserOut
    access: str
    refresh: str
