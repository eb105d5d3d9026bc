"""The chatbot's `brain` setting: validated models, and its stored and public forms.

Use `BrainConfig` as a field type in request bodies (errors then name the field, e.g.
`brain.openai.base_url`), or `parse_brain_config` on a dict. Store `stored_brain_config(...)`
(keeps the provider key), answer with `public_brain_config(...)` (never shows it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    StringConstraints,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from chatbot.fields.types import JSON_INTEGER, Text
from chatbot.fields.url_patterns import http_url_pattern

MAX_PROMPT_LENGTH = 8_000
# The rule for base_url, shown as such in the OpenAPI document.
BASE_URL_PATTERN = http_url_pattern(query=False)
_BASE_URL = re.compile(BASE_URL_PATTERN)

# Text fields count their length as sent, then are stripped (see chatbot.fields.types).
FallbackMessage = Annotated[str, StringConstraints(min_length=1, max_length=1_000), Text()]
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=200), Text()]
Prompt = Annotated[str, StringConstraints(max_length=MAX_PROMPT_LENGTH), Text(blank=True)]


def _type_required(schema: dict[str, Any]) -> None:
    # Only the knowledge brain may leave out `type` (it is the default), so a body without
    # one matches exactly one branch of the documented union.
    schema["required"] = ["type", *schema.get("required", [])]


def _openai_schema(schema: dict[str, Any]) -> None:
    _type_required(schema)
    # Sent back as read: the answer shows `api_key_set` instead of the key, and it is ignored.
    schema["properties"]["api_key_set"] = {
        "description": "ignored: answers show it instead of api_key",
    }


class _Brain(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    fallback_message: FallbackMessage | None = None


class KnowledgeBrainConfig(_Brain):
    """Answers from the chatbot's knowledge entries (the default)."""

    type: Literal["knowledge"] = "knowledge"
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)


class EchoBrainConfig(_Brain):
    """Answers with the visitor's own text: for tests and benchmarks."""

    model_config = ConfigDict(json_schema_extra=_type_required)

    type: Literal["echo"] = "echo"


class OpenAIBrainConfig(_Brain):
    """Any OpenAI-compatible chat completions server, answers streamed."""

    model_config = ConfigDict(json_schema_extra=_openai_schema)

    type: Literal["openai"] = "openai"
    base_url: str = Field(max_length=2_000, json_schema_extra={"pattern": BASE_URL_PATTERN})
    model: ModelName
    api_key: SecretStr | None = Field(default=None, max_length=1_000)
    system_prompt: Prompt | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: Annotated[int, Field(ge=1, le=1_000_000), JSON_INTEGER] | None = None
    context_passages: Annotated[int, Field(ge=0, le=10), JSON_INTEGER] = 3

    @model_validator(mode="before")
    @classmethod
    def _ignore_shown_only_fields(cls, data: Any) -> Any:
        # `api_key_set` is what the API shows instead of the key: a client sending back the
        # setting it read must not be refused for it.
        if isinstance(data, Mapping) and "api_key_set" in data:
            return {key: value for key, value in data.items() if key != "api_key_set"}
        return data

    @field_validator("base_url", mode="before")
    @classmethod
    def _http_url(cls, value: Any) -> Any:
        # BASE_URL_PATTERN is the rule (the schema shows it); the rest only says what is wrong.
        if not isinstance(value, str) or _BASE_URL.fullmatch(value):
            return value
        try:
            parts = urlsplit(value) if "://" in value else None
        except ValueError:
            parts = None
        if parts is not None and "@" in parts.netloc:
            raise ValueError("put credentials in api_key, not in the URL")
        if parts is not None and (parts.query or parts.fragment or "?" in value):
            raise ValueError("leave out the query string and fragment")
        raise ValueError(
            "use the server's address, like https://api.openai.com/v1 (http or https, a host, "
            "an optional port and path; no spaces)"
        )

    @field_validator("base_url")
    @classmethod
    def _without_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def completions_url(self) -> str:
        """Where to POST: `{base_url}/chat/completions`, with `/v1` added to a bare host."""
        if self.base_url.endswith("/chat/completions"):
            return self.base_url
        if urlsplit(self.base_url).path in ("", "/"):
            return f"{self.base_url}/v1/chat/completions"
        return f"{self.base_url}/chat/completions"


def _brain_type(value: Any) -> str | None:
    # An omitted type means the default brain, so `{}` and `{"threshold": 0.6}` are valid.
    if isinstance(value, Mapping):
        kind = value.get("type", "knowledge")
        return kind if isinstance(kind, str) else None
    kind = getattr(value, "type", None)
    return kind if isinstance(kind, str) else None


BrainConfig = Annotated[
    Annotated[KnowledgeBrainConfig, Tag("knowledge")]
    | Annotated[EchoBrainConfig, Tag("echo")]
    | Annotated[OpenAIBrainConfig, Tag("openai")],
    Discriminator(
        _brain_type,
        custom_error_type="invalid_brain_type",
        custom_error_message="type must be one of 'knowledge', 'echo', 'openai'",
    ),
]

brain_config_adapter: TypeAdapter[BrainConfig] = TypeAdapter(BrainConfig)


def parse_brain_config(data: Mapping[str, Any] | None) -> BrainConfig:
    """The validated brain setting; None means the default. Raises pydantic's ValidationError."""
    return brain_config_adapter.validate_python(dict(data) if data is not None else {})


def stored_brain_config(config: BrainConfig) -> dict[str, Any]:
    """The setting as stored in the database: JSON, with the provider key in clear."""
    stored: dict[str, Any] = config.model_dump(mode="json", exclude_none=True)
    if isinstance(config, OpenAIBrainConfig) and config.api_key is not None:
        stored["api_key"] = config.api_key.get_secret_value()
    return stored


def public_brain_config(config: BrainConfig | Mapping[str, Any] | None) -> dict[str, Any]:
    """The setting as the API shows it: never the provider key, only whether one is set."""
    if not isinstance(config, KnowledgeBrainConfig | EchoBrainConfig | OpenAIBrainConfig):
        raw: Mapping[str, Any] = config or {}
        try:
            config = parse_brain_config(raw)
        except ValidationError:
            # A stored setting that no longer validates is still shown, minus the key.
            return {key: value for key, value in raw.items() if key != "api_key"}
    shown: dict[str, Any] = config.model_dump(mode="json", exclude_none=True, exclude={"api_key"})
    if isinstance(config, OpenAIBrainConfig):
        shown["api_key_set"] = config.api_key is not None
    return shown


def keep_api_key(new: BrainConfig, previous: BrainConfig | None) -> BrainConfig:
    """`new`, keeping the previous provider key when it sends none for the same server.

    The API never shows the key, so a client that edits the brain it read would otherwise
    erase the key by sending the setting back.
    """
    if (
        isinstance(new, OpenAIBrainConfig)
        and new.api_key is None
        and isinstance(previous, OpenAIBrainConfig)
        and previous.api_key is not None
        and previous.base_url == new.base_url
    ):
        return new.model_copy(update={"api_key": previous.api_key})
    return new
