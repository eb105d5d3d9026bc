"""Account routes: register, login, refresh, logout, the profile, changing the password."""

from __future__ import annotations

from aiohttp import web

from chatbot import keys
from chatbot.auth import accounts
from chatbot.auth.context import current_user
from chatbot.auth.schemas import (
    LoginBody,
    PasswordChange,
    ProfileUpdate,
    RefreshBody,
    RegisterBody,
)
from chatbot.auth.sessions import (
    end_session,
    rotate_session,
    start_session,
    user_out,
)
from chatbot.errors import Conflict, Forbidden, NotAuthenticated, ValidationFailed
from chatbot.http.responses import json_response, no_content
from chatbot.http.routing import public
from chatbot.http.validation import read_json
from chatbot.ratelimit.check import request_address
from chatbot.ratelimit.policies import limited

INVALID_CREDENTIALS = "the email or password is wrong"
ACCOUNT_DELETED = "the account of this token was deleted"


def _check_length(request: web.Request, field: str, password: str) -> None:
    """Refuse absurdly long passwords before any hashing time is spent on them."""
    limit = request.app[keys.SETTINGS].auth.max_password_length
    if len(password) > limit:
        message = f"must be at most {limit} characters"
        raise ValidationFailed(
            f"invalid fields: {field}", fields=[{"field": field, "message": message}]
        )


@public
@limited("register_per_address")
async def register(request: web.Request) -> web.Response:
    body = await read_json(request, RegisterBody)
    _check_length(request, "password", body.password)
    app = request.app
    try:
        record = await accounts.register_account(app, body.email, body.name, body.password)
    except accounts.EmailTaken:
        raise Conflict(
            "an account with this email already exists: log in", code="email_taken"
        ) from None
    return json_response(await start_session(app, record), status=201)


@public
@limited("login_per_address")
async def login(request: web.Request) -> web.Response:
    body = await read_json(request, LoginBody)
    _check_length(request, "password", body.password)
    app = request.app
    record = await accounts.verify_login(app, body.email, body.password, request_address(request))
    if record is None:
        raise NotAuthenticated(INVALID_CREDENTIALS, code="invalid_credentials")
    return json_response(await start_session(app, record))


@public
async def refresh(request: web.Request) -> web.Response:
    body = await read_json(request, RefreshBody)
    return json_response(await rotate_session(request.app, body.refresh))


@public
async def logout(request: web.Request) -> web.Response:
    body = await read_json(request, RefreshBody)
    await end_session(request.app, body.refresh)
    return no_content()


async def get_profile(request: web.Request) -> web.Response:
    return json_response(user_out(current_user(request)))


async def update_profile(request: web.Request) -> web.Response:
    user = current_user(request)
    body = await read_json(request, ProfileUpdate)
    if body.name is None:
        return json_response(user_out(user))
    try:
        record = await accounts.rename_account(request.app, user.id, body.name)
    except accounts.AccountGone:
        raise NotAuthenticated(ACCOUNT_DELETED, code="account_deleted") from None
    return json_response(user_out(record))


async def change_password(request: web.Request) -> web.Response:
    user = current_user(request)
    body = await read_json(request, PasswordChange)
    _check_length(request, "current_password", body.current_password)
    _check_length(request, "new_password", body.new_password)
    app = request.app
    try:
        changed = await accounts.change_password(
            app,
            user.id,
            user.email,
            body.current_password,
            body.new_password,
            request_address(request),
        )
    except accounts.AccountGone:
        raise NotAuthenticated(ACCOUNT_DELETED, code="account_deleted") from None
    if changed is None:
        raise Forbidden("the current password is wrong", code="invalid_credentials")
    return json_response(await start_session(app, changed))
