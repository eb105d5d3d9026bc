"""Replacing a chatbot's identity secret: the write and the cache it must leave."""

from __future__ import annotations

from aiohttp import web

from chatbot import keys
from chatbot.chatbots import repository as repo
from chatbot.chatbots.identity import new_identity_secret
from chatbot.chatbots.lookup import forget_chatbot
from chatbot.chatbots.repository import ChatbotRecord


async def rotate_identity_secret(app: web.Application, chatbot_id: str) -> ChatbotRecord | None:
    """Give the chatbot a new secret (callers check the policy first); None when it is gone.

    Every instance reads the secret through the chatbot cache, so the old one leaves it here:
    hashes made with it stop working at once, everywhere.
    """
    result = await repo.update_chatbot(
        app[keys.ENGINE], chatbot_id, {"identity_secret": new_identity_secret()}
    )
    if result is None:
        return None
    before, after = result
    await forget_chatbot(app, before, after)
    return after
