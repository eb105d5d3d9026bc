"""Wiring of the account feature: its routes, token codec and password hasher."""

from __future__ import annotations

from aiohttp import web

from chatbot import keys
from chatbot.auth import handlers
from chatbot.auth.passwords import Passwords
from chatbot.auth.schemas import (
    LoginBody,
    PasswordChange,
    ProfileUpdate,
    RefreshBody,
    RegisterBody,
    SessionOut,
    TokenPair,
    UserOut,
)
from chatbot.auth.tokens import TokenCodec
from chatbot.http.routing import RouteTable


def setup_auth(app: web.Application) -> None:
    """The app's token codec and password hasher, made from its settings."""
    settings = app[keys.SETTINGS]
    app[keys.TOKENS] = TokenCodec(
        settings.secret_key.get_secret_value(),
        issuer=settings.auth.issuer,
        audience=settings.auth.audience,
        access_ttl_seconds=settings.auth.access_token_ttl_seconds,
        refresh_ttl_seconds=settings.auth.refresh_token_ttl_seconds,
        verified_cache_size=settings.auth.verified_token_cache_size,
    )
    app[keys.PASSWORDS] = Passwords()
    app.on_cleanup.append(_close_passwords)


async def _close_passwords(app: web.Application) -> None:
    app[keys.PASSWORDS].close()


def add_auth_routes(routes: RouteTable) -> None:
    tag = "auth"
    routes.add(
        "POST",
        "/auth/register/",
        handlers.register,
        body=RegisterBody,
        response=SessionOut,
        status=201,
        errors=(409,),
        summary="Create an account and log in",
        tag=tag,
    )
    routes.add(
        "POST",
        "/auth/login/",
        handlers.login,
        body=LoginBody,
        response=SessionOut,
        errors=(401,),
        summary="Exchange email and password for tokens",
        tag=tag,
    )
    routes.add(
        "POST",
        "/auth/refresh/",
        handlers.refresh,
        body=RefreshBody,
        response=TokenPair,
        errors=(401,),
        summary="Rotate a refresh token: a new pair, the old refresh token stops working",
        tag=tag,
    )
    routes.add(
        "POST",
        "/auth/logout/",
        handlers.logout,
        body=RefreshBody,
        status=204,
        errors=(401,),
        summary="Revoke a refresh token and all its successors",
        tag=tag,
    )
    routes.add(
        "GET",
        "/auth/me/",
        handlers.get_profile,
        response=UserOut,
        summary="The profile of the authenticated account",
        tag=tag,
    )
    routes.add(
        "PATCH",
        "/auth/me/",
        handlers.update_profile,
        body=ProfileUpdate,
        response=UserOut,
        summary="Change the profile",
        tag=tag,
    )
    routes.add(
        "POST",
        "/auth/password/",
        handlers.change_password,
        body=PasswordChange,
        response=SessionOut,
        errors=(403,),
        summary="Change the password; every other session ends, the caller gets new tokens",
        tag=tag,
    )
