"""The chatbot form: its fields, shown from a stored chatbot, read back into the API's models."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatbot.brains.schemas import public_brain_config
from chatbot.chatbots.repository import ChatbotRecord
from chatbot.chatbots.schemas import (
    DEFAULT_GREETING,
    ChatbotCreate,
    ChatbotUpdate,
    Theme,
    stored_theme,
    stored_token_budget,
)
from chatbot.dashboard.forms import lines, validate_form

TEXT_FIELDS = (
    "name",
    "slug",
    "greeting",
    "allowed_origins",
    "brain_type",
    "threshold",
    "base_url",
    "model",
    "api_key",
    "system_prompt",
    "monthly_tokens",
    "conversation_tokens",
    "title",
    "primary_color",
    "position",
    "avatar_url",
    "retention_days",
)
BRAIN_TYPES = (
    ("knowledge", "Knowledge base: answers from the chatbot's knowledge entries"),
    ("openai", "OpenAI-compatible model: any chat completions server"),
    ("echo", "Echo: repeats the visitor (for tests)"),
)
# Where a validation error's path names no form field, the closest field that does.
_ALIASES = {
    "brain": "brain_type",
    "theme": "title",
    "type": "brain_type",
    "token_budget": "monthly_tokens",
    "monthly": "monthly_tokens",
    "per_conversation": "conversation_tokens",
}


def blank_values() -> dict[str, str]:
    """The form of a new chatbot."""
    theme = Theme()
    return {
        **dict.fromkeys(TEXT_FIELDS, ""),
        "greeting": DEFAULT_GREETING,
        "brain_type": "knowledge",
        "primary_color": theme.primary_color,
        "position": theme.position,
    }


def stored_values(record: ChatbotRecord) -> dict[str, str]:
    """The form filled from a stored chatbot; the provider key is never shown."""
    brain = public_brain_config(record.brain)
    theme = stored_theme(record.theme)
    budget = stored_token_budget(record.token_budget)

    def text(value: Any) -> str:
        return "" if value is None else str(value)

    return {
        "name": record.name,
        "slug": record.slug,
        "greeting": record.greeting,
        "allowed_origins": "\n".join(record.allowed_origins),
        "brain_type": text(brain.get("type", "knowledge")),
        "threshold": text(brain.get("threshold")),
        "base_url": text(brain.get("base_url")),
        "model": text(brain.get("model")),
        "api_key": "",
        "system_prompt": text(brain.get("system_prompt")),
        "monthly_tokens": text(budget.monthly),
        "conversation_tokens": text(budget.per_conversation),
        "title": text(theme.title),
        "primary_color": theme.primary_color,
        "position": theme.position,
        "avatar_url": text(theme.avatar_url),
        "retention_days": text(record.retention_days),
    }


def api_key_set(record: ChatbotRecord | None) -> bool:
    return record is not None and bool(public_brain_config(record.brain).get("api_key_set"))


def posted_values(form: Mapping[str, Any]) -> dict[str, str]:
    """The form's text fields as sent (missing ones empty), to show back on errors."""
    return {name: value if isinstance(value := form.get(name), str) else "" for name in TEXT_FIELDS}


def _brain(values: Mapping[str, str]) -> dict[str, Any]:
    kind = values["brain_type"] or "knowledge"
    brain: dict[str, Any] = {"type": kind}
    if kind == "knowledge" and values["threshold"].strip():
        brain["threshold"] = values["threshold"].strip()
    elif kind == "openai":
        brain["base_url"] = values["base_url"].strip()
        brain["model"] = values["model"].strip()
        if values["api_key"].strip():
            brain["api_key"] = values["api_key"].strip()
        if values["system_prompt"].strip():
            brain["system_prompt"] = values["system_prompt"]
    return brain


def _tokens(value: str) -> str | None:
    # Thousands separators are welcome: "1,000,000" and "1 000 000" are a million.
    digits = "".join(value.split()).replace(",", "").replace("_", "")
    return digits or None


def _common(values: Mapping[str, str]) -> dict[str, Any]:
    return {
        "token_budget": {
            "monthly": _tokens(values["monthly_tokens"]),
            "per_conversation": _tokens(values["conversation_tokens"]),
        },
        "name": values["name"],
        "greeting": values["greeting"],
        "allowed_origins": lines(values["allowed_origins"]),
        "brain": _brain(values),
        "theme": {
            "title": values["title"] or None,
            "primary_color": values["primary_color"].strip() or None,
            "position": values["position"] or None,
            "avatar_url": values["avatar_url"].strip() or None,
        },
        "retention_days": values["retention_days"].strip() or None,
    }


def creation(values: Mapping[str, str]) -> ChatbotCreate:
    """The new chatbot the form describes, or FormErrors."""
    data = _common(values)
    data["theme"] = {key: value for key, value in data["theme"].items() if value is not None}
    data["slug"] = values["slug"].strip() or None
    return validate_form(ChatbotCreate, data, TEXT_FIELDS, _ALIASES)


def update(values: Mapping[str, str]) -> ChatbotUpdate:
    """The edited form as an update of every field it shows (a blank slug keeps it), or
    FormErrors."""
    data = _common(values)
    if values["slug"].strip():
        data["slug"] = values["slug"].strip()
    return validate_form(ChatbotUpdate, data, TEXT_FIELDS, _ALIASES)
