"""Request and response bodies of the chatbot routes."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from chatbot.brains.schemas import BrainConfig
from chatbot.chatbots.identity import Verification
from chatbot.chatbots.origins import (
    MAX_ORIGIN_LENGTH,
    MAX_ORIGINS,
    ORIGIN_SCHEMA_PATTERN,
    normalize_origin,
)
from chatbot.chatbots.slugs import SLUG_SCHEMA, checked_slug
from chatbot.fields.types import JSON_INTEGER, NOT_NULL, Rule, Text, omitted
from chatbot.fields.url_patterns import http_url_pattern
from chatbot.workspaces.schemas import WorkspaceId

DEFAULT_GREETING = "Hi! How can I help you today?"
MAX_RETENTION_DAYS = 36_500  # a hundred years: longer is "keep", which null says
MAX_GREETING_LENGTH = 2000
COLOUR_PATTERN = "^#[0-9a-fA-F]{6}$"
# An image address, or nothing: the empty string means no avatar.
AVATAR_PATTERN = "^$|" + http_url_pattern(query=True)
_COLOUR = re.compile(COLOUR_PATTERN)
_AVATAR = re.compile(AVATAR_PATTERN)


def _colour(value: str) -> str:
    if not _COLOUR.fullmatch(value):
        raise ValueError(f"{value!r} is not a colour: use #rrggbb, like #2563eb")
    return value.lower()


def _avatar(value: str) -> str:
    if not _AVATAR.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an image address: use an http(s):// URL, like "
            "https://example.com/avatar.png (spaces and non-ASCII characters %-encoded)"
        )
    return value


def _origins(values: list[str]) -> list[str]:
    # Each is checked here rather than per item so that errors name `allowed_origins`.
    return list(dict.fromkeys(normalize_origin(value) for value in values))


Name = Annotated[str, StringConstraints(min_length=1, max_length=200), Text()]
Greeting = Annotated[str, StringConstraints(max_length=MAX_GREETING_LENGTH), Text(blank=True)]
Slug = Annotated[str, Rule(checked_slug, SLUG_SCHEMA)]
Origins = Annotated[
    list[str],
    Field(max_length=MAX_ORIGINS),
    Rule(
        _origins,
        {
            "items": {
                "type": "string",
                "maxLength": MAX_ORIGIN_LENGTH,
                "pattern": ORIGIN_SCHEMA_PATTERN,
            }
        },
    ),
]
Title = Annotated[str, StringConstraints(max_length=100), Text(blank=True)]
RetentionDays = Annotated[
    int,
    Field(
        ge=1,
        le=MAX_RETENTION_DAYS,
        description="conversations whose last message is older are deleted; null keeps them",
    ),
    JSON_INTEGER,
]
Colour = Annotated[str, Rule(_colour, {"pattern": COLOUR_PATTERN})]
AvatarUrl = Annotated[
    str, StringConstraints(max_length=2000), Rule(_avatar, {"pattern": AVATAR_PATTERN})
]


class _Body(BaseModel):
    # Unknown fields are refused so that a misspelt field is an error, not silently ignored.
    model_config = ConfigDict(extra="forbid")


class Theme(_Body):
    """How the widget looks for this chatbot."""

    title: Title | None = None
    primary_color: Colour = "#2563eb"
    position: Literal["left", "right"] = "right"
    avatar_url: AvatarUrl | None = Field(default=None, description="empty or null: no avatar")

    @field_validator("avatar_url")
    @classmethod
    def _no_avatar(cls, value: str | None) -> str | None:
        return value or None


class ThemeUpdate(_Body):
    """Theme fields to change; the others keep their values."""

    title: Title | None = None
    primary_color: Colour | None = None
    position: Literal["left", "right"] | None = None
    avatar_url: AvatarUrl | None = Field(default=None, description="empty or null: no avatar")

    @field_validator("avatar_url")
    @classmethod
    def _no_avatar(cls, value: str | None) -> str | None:
        return value or None

    def applied_to(self, theme: dict[str, Any]) -> Theme:
        """The stored theme with these changes; null resets a field to its default."""
        merged = {**theme, **self.model_dump(exclude_unset=True)}
        known = {name: merged[name] for name in Theme.model_fields if merged.get(name) is not None}
        return Theme.model_validate(known)


# A trillion tokens: far past any real budget, and within PostgreSQL's BIGINT.
MAX_TOKEN_BUDGET = 1_000_000_000_000
Tokens = Annotated[int, Field(ge=1, le=MAX_TOKEN_BUDGET), JSON_INTEGER]
_MONTHLY = "tokens a calendar month (UTC) for this chatbot; null: no limit"
_PER_CONVERSATION = "tokens for one conversation; null: no limit"


class TokenBudget(_Body):
    """What an LLM brain may spend. Once a limit is reached, answers are the fallback message
    and the conversation is handed to a person."""

    monthly: Tokens | None = Field(default=None, description=_MONTHLY)
    per_conversation: Tokens | None = Field(default=None, description=_PER_CONVERSATION)


class TokenBudgetUpdate(_Body):
    """Budget fields to change; the others keep their values (null removes that limit)."""

    monthly: Tokens | None = Field(default=None, description=_MONTHLY)
    per_conversation: Tokens | None = Field(default=None, description=_PER_CONVERSATION)

    def applied_to(self, budget: dict[str, Any]) -> TokenBudget:
        """The stored budget with these changes."""
        merged = {**stored_token_budget(budget).model_dump(), **self.model_dump(exclude_unset=True)}
        return TokenBudget.model_validate(merged)


def stored_token_budget(stored: Any) -> TokenBudget:
    """The budget as stored; one that no longer validates means no limit (never a crash)."""
    try:
        return TokenBudget.model_validate(stored or {})
    except ValueError:
        return TokenBudget()


def stored_theme(stored: Any) -> Theme:
    """The theme as stored; one written by another version shows the defaults (never a crash)."""
    try:
        return Theme.model_validate(dict(stored or {}))
    except ValueError:
        return Theme()


_VERIFICATION_DESCRIPTION = (
    "whether visitors prove who they are with user_id and user_hash: off (ignored), optional "
    "(a valid pair is trusted, an invalid one is anonymous) or required (no valid pair: 403)"
)


class ChatbotCreate(_Body):
    """`POST /api/chatbots/`: only the name is required."""

    name: Name
    slug: Slug | None = Field(default=None, description="generated from the name when omitted")
    greeting: Greeting | None = Field(
        default=None, description="omitted or null: the default greeting; empty: no greeting"
    )
    allowed_origins: Origins = Field(
        default_factory=list, description="origins that may embed it; empty: any origin"
    )
    brain: BrainConfig | None = Field(default=None, description='default {"type": "knowledge"}')
    theme: Theme | None = None
    token_budget: TokenBudget | None = Field(default=None, description="default: no limits")
    retention_days: RetentionDays | None = None
    identity_verification: Verification = Field(
        default="off", description=_VERIFICATION_DESCRIPTION
    )
    workspace_id: WorkspaceId | None = Field(
        default=None,
        description="a workspace where you are owner or admin; default: your own workspace",
    )


class ChatbotUpdate(_Body):
    """`PATCH /api/chatbots/{id}/`: the fields sent change, the others stay."""

    name: Annotated[Name | None, NOT_NULL] = omitted()
    slug: Annotated[Slug | None, NOT_NULL] = omitted()
    greeting: Greeting | None = Field(default=None, description="null: back to the default")
    allowed_origins: Annotated[Origins | None, NOT_NULL] = omitted()
    brain: Annotated[BrainConfig | None, NOT_NULL] = omitted(
        "an omitted api_key keeps the stored one for the same server"
    )
    theme: ThemeUpdate | None = None
    token_budget: TokenBudgetUpdate | None = Field(
        default=None, description="null: no limits; an object changes the limits it names"
    )
    retention_days: RetentionDays | None = Field(default=None, description="null: keep them")
    identity_verification: Annotated[Verification | None, NOT_NULL] = omitted(
        _VERIFICATION_DESCRIPTION
    )


class ChatbotOut(BaseModel):
    """A chatbot as the API shows it: the brain without its provider key (`api_key_set`)."""

    id: str
    workspace_id: str
    slug: str
    name: str
    greeting: str
    allowed_origins: list[str]
    brain: dict[str, Any]
    theme: Theme
    token_budget: TokenBudget
    created_at: str
    updated_at: str
    embed_snippet: str
    demo_url: str
    retention_days: int | None
    identity_verification: Verification
    identity_secret: str | None = Field(
        description="the key of the user_hash HMAC; null for those who may not manage the "
        "chatbot (POST .../identity-secret/ makes a new one)"
    )


class ChatbotList(BaseModel):
    items: list[ChatbotOut]


class ChatbotListQuery(BaseModel):
    """`?workspace_id=` of the chatbots list."""

    # Unknown parameters are ignored, as on the web: cache busters like `?_=123` must not fail.
    model_config = ConfigDict(extra="ignore")

    workspace_id: WorkspaceId | None = omitted("only this workspace's chatbots")
