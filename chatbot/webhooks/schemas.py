"""Request and response bodies of the webhook routes."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chatbot.fields.types import Rule, omitted
from chatbot.fields.url_patterns import http_url_pattern
from chatbot.webhooks.events import EVENT_TYPES

MAX_URL_LENGTH = 2000
URL_PATTERN = http_url_pattern(query=True)
_URL = re.compile(URL_PATTERN)
MAX_DELIVERIES = 200

DeliveryStatus = Literal["pending", "delivered", "failed"]
EventType = Literal[
    "conversation.created", "message.created", "conversation.status_changed", "visitor.erased"
]
assert set(EventType.__args__) == set(EVENT_TYPES)  # type: ignore[attr-defined]


def _url(value: str) -> str:
    if not _URL.fullmatch(value):
        if "@" in value.partition("://")[2].partition("/")[0]:
            raise ValueError("leave credentials out of the URL: check the signature instead")
        raise ValueError(
            f"{value!r} is not a URL the server can POST to: use http(s)://host[:port]/path, "
            "like https://example.com/hooks/chat (spaces and non-ASCII characters %-encoded)"
        )
    return value


def _events(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))  # a repeated event counts once


Url = Annotated[
    str, StringConstraints(max_length=MAX_URL_LENGTH), Rule(_url, {"pattern": URL_PATTERN})
]
Events = Annotated[
    list[EventType],
    Field(min_length=1, max_length=30, description="each at least once; repeats count once"),
    Rule(_events),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookCreate(_Body):
    """Where to send which events."""

    url: Url
    events: Events


class WebhookUpdate(_Body):
    """Enable a webhook again (its failures forgotten), or disable it."""

    enabled: bool


class WebhookOut(BaseModel):
    """A webhook; `secret` signs its deliveries (Standard Webhooks)."""

    id: str
    workspace_id: str
    url: str
    events: list[str]
    secret: str = Field(description="whsec_ and base64 of 32 random bytes")
    created_at: str
    enabled: bool
    failing_since: str | None = Field(description="every attempt has failed since then")
    disabled_at: str | None
    disabled_reason: str | None


class WebhookList(BaseModel):
    items: list[WebhookOut]


class DeliveryOut(BaseModel):
    """One event sent to one webhook, with how its attempts went."""

    id: str
    webhook_id: str
    event_id: str = Field(description="the webhook-id header, the same on every attempt")
    event_type: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: str | None
    next_attempt_at: str | None
    created_at: str


class DeliveryList(BaseModel):
    items: list[DeliveryOut]


class DeliveryQuery(BaseModel):
    """`?limit=&status=` of a webhook's deliveries."""

    # Unknown parameters are ignored, as on the web: cache busters like `?_=123` must not fail.
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=50, ge=1, le=MAX_DELIVERIES)
    status: DeliveryStatus | None = omitted()
