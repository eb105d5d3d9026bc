"""Account routes: register, login, refresh, logout, the profile, changing the password."""

from __future__ import annotations

from aiohttp import web

from chatbot import keys
from chatbot.auth import repository
from chatbot.auth.context import current_user
from chatbot.auth.repository import EmailTaken
from chatbot.auth.schemas import (
    LoginBody,
    PasswordChange,
    ProfileUpdate,
    RefreshBody,
    RegisterBody,
)
from chatbot.auth.sessions import (
    end_session,
    remember,
    rotate_session,
    start_session,
    user_out,
)
from chatbot.errors import Conflict, Forbidden, NotAuthenticated, ValidationFailed
from chatbot.http.responses import json_response, no_content
from chatbot.http.routing import public
from chatbot.http.validation import read_json
from chatbot.ratelimit.check import enforce_rate
from chatbot.ratelimit.policies import limited

INVALID_CREDENTIALS = "the email or password is wrong"


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
    engine = app[keys.ENGINE]
    taken = Conflict("an account with this email already exists: log in", code="email_taken")
    # Checked first so that a taken address costs no hashing; the insert still decides races.
    if await repository.user_by_email(engine, body.email) is not None:
        raise taken
    password_hash = await app[keys.PASSWORDS].hash(body.password)
    try:
        record = await repository.insert_user(engine, body.email, body.name, password_hash)
    except EmailTaken:
        raise taken from None
    return json_response(await start_session(app, record), status=201)


@public
@limited("login_per_address")
async def login(request: web.Request) -> web.Response:
    body = await read_json(request, LoginBody)
    _check_length(request, "password", body.password)
    app = request.app
    await enforce_rate(app, "login_per_account", body.email)
    passwords = app[keys.PASSWORDS]
    record = await repository.user_by_email(app[keys.ENGINE], body.email)
    if record is None:
        await passwords.verify_unknown(body.password)
        raise NotAuthenticated(INVALID_CREDENTIALS, code="invalid_credentials")
    if not await passwords.verify(record.password_hash, body.password):
        raise NotAuthenticated(INVALID_CREDENTIALS, code="invalid_credentials")
    if passwords.needs_rehash(record.password_hash):
        new_hash = await passwords.hash(body.password)
        await repository.update_password_hash(app[keys.ENGINE], record.id, new_hash)
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
    record = await repository.update_name(request.app[keys.ENGINE], user.id, body.name)
    if record is None:
        raise NotAuthenticated("the account of this token was deleted", code="account_deleted")
    await remember(request.app, record)
    return json_response(user_out(record))


async def change_password(request: web.Request) -> web.Response:
    user = current_user(request)
    body = await read_json(request, PasswordChange)
    _check_length(request, "current_password", body.current_password)
    _check_length(request, "new_password", body.new_password)
    app = request.app
    engine = app[keys.ENGINE]
    # Guesses at the current password count like login attempts on the account.
    await enforce_rate(app, "login_per_account", user.email)
    passwords = app[keys.PASSWORDS]
    record = await repository.user_by_id(engine, user.id)
    if record is None:
        raise NotAuthenticated("the account of this token was deleted", code="account_deleted")
    if not await passwords.verify(record.password_hash, body.current_password):
        raise Forbidden("the current password is wrong", code="invalid_credentials")
    new_hash = await passwords.hash(body.new_password)
    changed = await repository.change_password(engine, user.id, new_hash)
    if changed is None:
        raise NotAuthenticated("the account of this token was deleted", code="account_deleted")
    return json_response(await start_session(app, changed))
