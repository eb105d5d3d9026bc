"""The webhook feature's wiring: its dispatcher and HTTP client, opened and closed with the app."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import ClientSession, ClientTimeout, web

from chatbot import keys
from chatbot.http.outbound import guarded_connector
from chatbot.webhooks.dispatcher import Dispatcher
from chatbot.webhooks.subscriptions import WEBHOOKS


async def webhooks_context(app: web.Application) -> AsyncIterator[None]:
    """The dispatcher, after the database, the broker and the chat (whose writes wake it)."""
    settings = app[keys.SETTINGS]
    hooks = settings.webhooks
    # Receivers are URLs that tenants choose: public addresses only, checked at connect time.
    connector = guarded_connector(hooks.allow_private_targets, limit=hooks.concurrency)
    session = ClientSession(
        connector=connector,
        timeout=ClientTimeout(total=None, sock_connect=hooks.timeout_seconds),
        auto_decompress=False,
    )
    dispatcher = Dispatcher(app[keys.ENGINE], session, app[keys.BROKER], hooks)
    app[WEBHOOKS].on_written = dispatcher.wake
    await dispatcher.start()
    try:
        yield
    finally:
        app[WEBHOOKS].on_written = None
        await dispatcher.close(min(hooks.timeout_seconds, settings.shutdown_timeout_seconds))
        await session.close()


def setup_webhooks(app: web.Application) -> None:
    """Register the dispatcher's context (after `setup_resources` and `setup_chat`)."""
    app.cleanup_ctx.append(webhooks_context)
