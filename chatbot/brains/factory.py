"""Picks the brain for a chatbot from its `brain` setting; one `Brains` per app, made at start."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
from pydantic import ValidationError

from chatbot.brains.base import Brain, BrainReply, BrainRequest, fallback_events
from chatbot.brains.echo import EchoBrain
from chatbot.brains.knowledge import DEFAULT_THRESHOLD, KnowledgeBrain
from chatbot.brains.openai import OpenAIBrain
from chatbot.brains.schemas import (
    BrainConfig,
    EchoBrainConfig,
    OpenAIBrainConfig,
    parse_brain_config,
)

if TYPE_CHECKING:
    from chatbot.config import BrainSettings

log = logging.getLogger(__name__)


class Brains:
    """Every kind of brain, sharing the fallback text, the threshold and the HTTP client."""

    def __init__(
        self,
        *,
        fallback_message: str,
        knowledge_threshold: float = DEFAULT_THRESHOLD,
        http: aiohttp.ClientSession | None = None,
        openai_timeout_seconds: float = 30.0,
        history_turns: int = 12,
    ) -> None:
        self.fallback_message = fallback_message
        self.echo = EchoBrain(fallback_message=fallback_message)
        self.knowledge = KnowledgeBrain(
            fallback_message=fallback_message, threshold=knowledge_threshold
        )
        self.openai = OpenAIBrain(
            http,
            fallback_message=fallback_message,
            timeout_seconds=openai_timeout_seconds,
            history_turns=history_turns,
        )

    @classmethod
    def from_settings(
        cls,
        settings: BrainSettings,
        *,
        http: aiohttp.ClientSession | None = None,
        history_turns: int = 12,
    ) -> Brains:
        """Brains configured from the `brains` section of the settings."""
        return cls(
            fallback_message=settings.fallback_message,
            knowledge_threshold=settings.knowledge_threshold,
            http=http,
            openai_timeout_seconds=settings.openai_timeout_seconds,
            history_turns=history_turns,
        )

    def for_config(self, config: BrainConfig) -> Brain:
        """The brain that serves this setting."""
        if isinstance(config, EchoBrainConfig):
            return self.echo
        if isinstance(config, OpenAIBrainConfig):
            return self.openai
        return self.knowledge

    def fallback_for(self, config: Mapping[str, Any] | None) -> str:
        """The chatbot's own fallback message, or the server's."""
        try:
            own = parse_brain_config(config).fallback_message
        except ValidationError:
            own = None
        return own or self.fallback_message

    def reply(self, request: BrainRequest) -> BrainReply:
        """Start the reply of the chatbot's brain; an unusable setting gets the fallback."""
        try:
            config = parse_brain_config(request.config)
        except ValidationError as exc:
            # Settings are validated when saved, so this is a stored setting gone stale.
            log.warning("chatbot %r has an invalid brain setting: %s", request.chatbot_name, exc)
            return BrainReply(
                fallback_events(self.fallback_message, "invalid_config"),
                fallback_message=self.fallback_message,
            )
        return self.for_config(config).reply(request)


def brain_type(config: Mapping[str, Any] | None) -> str:
    """The brain's type name for logs and metrics ("knowledge" when unset or unreadable)."""
    kind = (config or {}).get("type", "knowledge")
    return kind if isinstance(kind, str) else "knowledge"


def spends_tokens(config: Mapping[str, Any] | None) -> bool:
    """Whether the brain pays a provider per token (and so counts them and has budgets)."""
    return brain_type(config) == "openai"
