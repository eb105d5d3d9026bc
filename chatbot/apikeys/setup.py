"""Wiring of the API keys: the authenticator and the last-used recorder, with the app."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from chatbot import keys
from chatbot.apikeys.authenticator import API_KEYS, KeyAuthenticator
from chatbot.apikeys.usage import API_KEY_USAGE, LastUsedRecorder


async def api_keys_context(app: web.Application) -> AsyncIterator[None]:
    """Runs after the resources' contexts: it needs the engine, the cache and the broker."""
    authenticator = KeyAuthenticator(app)
    await authenticator.start()
    app[API_KEYS] = authenticator
    recorder = LastUsedRecorder(app[keys.ENGINE])
    recorder.start()
    app[API_KEY_USAGE] = recorder
    try:
        yield
    finally:
        await recorder.close()


def setup_api_keys(app: web.Application) -> None:
    app.cleanup_ctx.append(api_keys_context)
