"""Sign up, log in, log out, the profile and the access token the live pages use."""

from __future__ import annotations

from aiohttp import web

from chatbot import keys
from chatbot.auth.accounts import (
    AccountGone,
    EmailTaken,
    change_password,
    register_account,
    rename_account,
    verify_login,
)
from chatbot.auth.schemas import LoginBody, PasswordChange, ProfileUpdate, RegisterBody
from chatbot.auth.sessions import remember
from chatbot.auth.setup import TOKENS
from chatbot.dashboard.forms import FORM_ERROR, FormErrors, validate_form
from chatbot.dashboard.pages import (
    HOME_PATH,
    LOGIN_PATH,
    current_operator,
    field,
    page,
    redirect,
    render,
    safe_next,
)
from chatbot.dashboard.session import EPOCH, SESSION, flash, log_in, log_out, session_user
from chatbot.http.responses import json_response
from chatbot.ratelimit.check import enforce_rate, request_address
from chatbot.storage.values import new_id

WRONG_CREDENTIALS = "The email or password is wrong."
_ACCOUNT_FIELDS = ("email", "password", "name", "password_confirm")
_PASSWORD_FIELDS = ("current_password", "new_password", "new_password_confirm")


def _check_length(request: web.Request, name: str, password: str) -> None:
    """Absurdly long passwords are refused before any hashing time is spent on them."""
    limit = request.app[keys.SETTINGS].auth.max_password_length
    if len(password) > limit:
        raise FormErrors({name: f"Use at most {limit} characters."})


async def _count_attempt(request: web.Request, policy: str) -> None:
    await enforce_rate(request.app, policy, request_address(request))


@page(login=False)
async def home(request: web.Request) -> web.StreamResponse:
    return redirect(HOME_PATH)


@page(login=False)
async def login_form(request: web.Request) -> web.StreamResponse:
    target = safe_next(request.query.get("next"))
    if await session_user(request.app, request[SESSION]) is not None:
        return redirect(target)  # already logged in: straight on
    context = {"next": target, "email": ""}
    return render(request, "login.html", context)


@page(login=False)
async def login_submit(request: web.Request) -> web.StreamResponse:
    await _count_attempt(request, "login_per_address")
    email, password = field(request, "email"), field(request, "password")
    target = safe_next(field(request, "next"))
    try:
        _check_length(request, "password", password)
        body = validate_form(LoginBody, {"email": email, "password": password}, _ACCOUNT_FIELDS)
    except FormErrors as exc:
        context = {"next": target, "email": email, "errors": exc.errors}
        return render(request, "login.html", context, status=422)
    record = await verify_login(request.app, body.email, body.password, request_address(request))
    if record is None:
        context = {"next": target, "email": email, "errors": {FORM_ERROR: WRONG_CREDENTIALS}}
        return render(request, "login.html", context, status=401)
    await remember(request.app, record)
    log_in(request[SESSION], record)
    return redirect(target)


@page(login=False)
async def signup_form(request: web.Request) -> web.StreamResponse:
    return render(request, "signup.html", {"email": "", "name": ""})


@page(login=False)
async def signup_submit(request: web.Request) -> web.StreamResponse:
    await _count_attempt(request, "register_per_address")
    email, name = field(request, "email"), field(request, "name")
    password = field(request, "password")
    context = {"email": email, "name": name}
    try:
        _check_length(request, "password", password)
        if password != field(request, "password_confirm"):
            raise FormErrors({"password_confirm": "The two passwords differ."})
        body = validate_form(
            RegisterBody, {"email": email, "password": password, "name": name}, _ACCOUNT_FIELDS
        )
        record = await register_account(request.app, body.email, body.name, body.password)
    except FormErrors as exc:
        return render(request, "signup.html", {**context, "errors": exc.errors}, status=422)
    except EmailTaken:
        errors = {"email": "An account with this email already exists: log in instead."}
        return render(request, "signup.html", {**context, "errors": errors}, status=409)
    await remember(request.app, record)
    session = request[SESSION]
    log_in(session, record)
    flash(session, "success", "Welcome! Create your first chatbot to get started.")
    return redirect("/dashboard/chatbots/new/")


@page()
async def logout(request: web.Request) -> web.StreamResponse:
    session = request[SESSION]
    log_out(session)
    flash(session, "success", "You are logged out.")
    return redirect(LOGIN_PATH)


@page()
async def profile(request: web.Request) -> web.StreamResponse:
    return render(request, "profile.html", {"name": current_operator(request).name})


@page()
async def profile_submit(request: web.Request) -> web.StreamResponse:
    user = current_operator(request)
    name = field(request, "name")
    try:
        body = validate_form(ProfileUpdate, {"name": name}, ("name",))
        await rename_account(request.app, user.id, body.name or "")
    except FormErrors as exc:
        return render(request, "profile.html", {"name": name, "errors": exc.errors}, status=422)
    except AccountGone:
        return redirect(LOGIN_PATH)
    flash(request[SESSION], "success", "Your name is saved.")
    return redirect("/dashboard/profile/")


@page()
async def password_submit(request: web.Request) -> web.StreamResponse:
    user = current_operator(request)
    current, new = field(request, "current_password"), field(request, "new_password")
    context = {"name": user.name}
    try:
        _check_length(request, "current_password", current)
        _check_length(request, "new_password", new)
        if new != field(request, "new_password_confirm"):
            raise FormErrors({"new_password_confirm": "The two new passwords differ."})
        body = validate_form(
            PasswordChange,
            {"current_password": current, "new_password": new},
            _PASSWORD_FIELDS,
        )
        changed = await change_password(
            request.app,
            user.id,
            user.email,
            body.current_password,
            body.new_password,
            request_address(request),
        )
        if changed is None:
            raise FormErrors({"current_password": "The current password is wrong."})
    except FormErrors as exc:
        return render(request, "profile.html", {**context, "errors": exc.errors}, status=422)
    except AccountGone:
        return redirect(LOGIN_PATH)
    await remember(request.app, changed)  # every instance sees the new epoch at once
    session = request[SESSION]
    session[EPOCH] = changed.session_epoch  # this session goes on; every other one has ended
    flash(session, "success", "Password changed. Every other session has been logged out.")
    return redirect("/dashboard/profile/")


@page(json=True)
async def access_token(request: web.Request) -> web.StreamResponse:
    """A short-lived access token of the logged-in user, for the operator WebSocket and API."""
    user = current_operator(request)
    codec = request.app[TOKENS]
    token = codec.issue_access(user.id, request[SESSION][EPOCH], new_id())
    return json_response({"access": token, "expires_in": codec.access_ttl_seconds})
