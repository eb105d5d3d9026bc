"""Wiring of the chat: its service, opened after the infrastructure and closed before it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

from aiohttp import web

from chatbot import keys
from chatbot.chat.service import CHAT, ChatService
from chatbot.webhooks.subscriptions import SUBSCRIPTIONS_CHANNEL, WEBHOOKS


async def chat_context(app: web.Application) -> AsyncIterator[None]:
    """The store, hub, presence and bot runner; after the resources' contexts (engine, broker)."""
    chat = ChatService(app)
    broker = app[keys.BROKER]
    async with AsyncExitStack() as stack:
        await chat.hub.start()
        stack.push_async_callback(chat.hub.close)
        await chat.presence.start()
        stack.push_async_callback(chat.presence.close)
        broker.listen(chat.webhooks)
        await broker.subscribe(SUBSCRIPTIONS_CHANNEL)
        app[WEBHOOKS] = chat.webhooks
        await chat.store.start()
        stack.push_async_callback(chat.store.close)
        stack.push_async_callback(chat.bots.close)
        app[CHAT] = chat
        yield


async def close_chat_sockets(app: web.Application) -> None:
    """The on_shutdown hook: sockets close with 1001 before the handlers are cancelled."""
    chat = app.get(CHAT)
    if chat is not None:
        await chat.close_sockets()


def setup_chat(app: web.Application) -> None:
    """Open the chat with the app; call it right after `setup_resources`."""
    app.cleanup_ctx.append(chat_context)
    app.on_shutdown.append(close_chat_sockets)
