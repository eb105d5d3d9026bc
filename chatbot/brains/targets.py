"""Where a brain may send requests: an `openai` brain's `base_url` must be a public address."""

from __future__ import annotations

from chatbot.brains.schemas import BrainConfig, OpenAIBrainConfig
from chatbot.config import BrainSettings
from chatbot.errors import ValidationFailed
from chatbot.http.outbound import url_problem

BASE_URL_FIELD = "brain.base_url"


async def base_url_problem(brain: BrainConfig | None, settings: BrainSettings) -> str | None:
    """Why the server must not call the brain's `base_url`, or None when it may."""
    if not isinstance(brain, OpenAIBrainConfig) or settings.allow_private_base_urls:
        return None
    problem = await url_problem(brain.base_url)
    if problem is None:
        return None
    return (
        f"{problem}, so the server will not call it: use the provider's public address, or set "
        "CHATBOT_BRAINS__ALLOW_PRIVATE_BASE_URLS=true to allow a model on your own network"
    )


async def ensure_allowed_base_url(brain: BrainConfig | None, settings: BrainSettings) -> None:
    """Refuse (422 `url_not_allowed`) a brain whose `base_url` the server must not call."""
    problem = await base_url_problem(brain, settings)
    if problem is not None:
        raise ValidationFailed(
            f"{BASE_URL_FIELD}: {problem}",
            code="url_not_allowed",
            fields=[{"field": BASE_URL_FIELD, "message": problem}],
        )
