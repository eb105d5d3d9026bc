"""Which chatbots a caller may talk to as models: those of the workspaces they may read."""

from __future__ import annotations

from aiohttp import web

from chatbot import keys
from chatbot.chatbots.lookup import chatbot_by_slug
from chatbot.chatbots.repository import ChatbotRecord, list_chatbots
from chatbot.errors import NotFound
from chatbot.workspaces.policy import require, workspace_ids_for
from chatbot.workspaces.roles import Action


async def readable_chatbots(request: web.Request) -> list[ChatbotRecord]:
    """The chatbots the caller may read, oldest first (the chatbots list's own rule)."""
    workspace_ids = await workspace_ids_for(request, Action.READ)
    return await list_chatbots(request.app[keys.ENGINE], workspace_ids)


def model_not_found(model: str) -> NotFound:
    """The 404 of a model that does not exist, or that the caller may not read."""
    return NotFound(
        f"the model {model!r} does not exist or you have no access to it: "
        "GET /v1/models lists the chatbots you can use",
        code="model_not_found",
        param="model",
    )


async def chatbot_for_model(request: web.Request, model: str) -> ChatbotRecord:
    """The chatbot whose slug is `model`; 404 `model_not_found` when the caller may not read it,
    exactly as when it does not exist."""
    chatbot = await chatbot_by_slug(request.app, model)
    if chatbot is None:
        raise model_not_found(model)
    await require(request, chatbot.workspace_id, Action.READ, missing=model_not_found(model))
    return chatbot
