"""Wiring of the account feature: its token codec and password hasher, made with the app."""

from __future__ import annotations

from aiohttp import web

from chatbot import keys
from chatbot.auth.passwords import Passwords
from chatbot.auth.tokens import TokenCodec

TOKENS = web.AppKey("tokens", TokenCodec)
PASSWORDS = web.AppKey("passwords", Passwords)


def setup_auth(app: web.Application) -> None:
    """The app's token codec and password hasher, made from its settings."""
    settings = app[keys.SETTINGS]
    app[TOKENS] = TokenCodec(
        settings.secret_key.get_secret_value(),
        issuer=settings.auth.issuer,
        audience=settings.auth.audience,
        access_ttl_seconds=settings.auth.access_token_ttl_seconds,
        refresh_ttl_seconds=settings.auth.refresh_token_ttl_seconds,
        verified_cache_size=settings.auth.verified_token_cache_size,
    )
    app[PASSWORDS] = Passwords()
    app.on_cleanup.append(_close_passwords)


async def _close_passwords(app: web.Application) -> None:
    app[PASSWORDS].close()
