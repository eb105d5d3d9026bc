"""The account feature's routes."""

from __future__ import annotations

from chatbot.auth import handlers
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
from chatbot.http.routing import RouteTable


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
