"""Which chatbots a caller may talk to as models: those the caller may read."""

from __future__ import annotations

from aiohttp import web

from chatbot import keys
from chatbot.auth.context import AuthUser
from chatbot.chatbots.lookup import chatbot_by_slug
from chatbot.chatbots.repository import ChatbotRecord, list_chatbots
from chatbot.errors import NotFound


async def readable_chatbots(app: web.Application, user: AuthUser) -> list[ChatbotRecord]:
    """The chatbots the caller may read, oldest first (the chatbots list's own rule)."""
    return await list_chatbots(app[keys.ENGINE], user.id)


def may_read(user: AuthUser, chatbot: ChatbotRecord) -> bool:
    """Whether the caller may read the chatbot (as `readable_chatbots` decides)."""
    return chatbot.owner_id == user.id


def model_not_found(model: str) -> NotFound:
    """The 404 of a model that does not exist, or that the caller may not read."""
    return NotFound(
        f"the model {model!r} does not exist or you have no access to it: "
        "GET /v1/models lists the chatbots you can use",
        code="model_not_found",
        param="model",
    )


async def chatbot_for_model(app: web.Application, user: AuthUser, model: str) -> ChatbotRecord:
    """The chatbot whose slug is `model`; 404 `model_not_found` when the caller may not read it,
    exactly as when it does not exist."""
    chatbot = await chatbot_by_slug(app, model)
    if chatbot is None or not may_read(user, chatbot):
        raise model_not_found(model)
    return chatbot
