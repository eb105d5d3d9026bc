"""Page plumbing: the session and CSRF checks around every handler, rendering, headers.

Dashboard handlers are `@public` for the JWT middleware and enforce the cookie session here:
a visitor who is not logged in is sent to the login page, a form post without the session's
CSRF token is refused with 403, and API errors raised by shared code become HTML pages.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDictProxy

from chatbot import keys
from chatbot.auth.context import USER, AuthUser
from chatbot.dashboard.csrf import CSRF_FIELD, csrf_token, csrf_valid
from chatbot.dashboard.session import (
    SESSION,
    USER_ID,
    flash,
    log_out,
    served_over_https,
    session_user,
    sessions_of,
    take_flashes,
)
from chatbot.dashboard.workspace_context import (
    current_workspace,
    load_workspaces,
    workspaces_of_page,
)
from chatbot.errors import ApiError, Forbidden, NotFound, RateLimited
from chatbot.http.responses import json_response
from chatbot.http.routing import Handler, public
from chatbot.workspaces.policy import require
from chatbot.workspaces.roles import Action, Role

LOGIN_PATH = "/dashboard/login/"
HOME_PATH = "/dashboard/inbox/"
FORM = web.RequestKey("dashboard_form", MultiDictProxy)


class PageError(Exception):
    """Stops a handler with an HTML error page: `status`, a title and what to do."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


class CsrfRefused(PageError):
    """A form post without this session's CSRF token."""

    def __init__(self) -> None:
        super().__init__(403, "This form has expired", "")


def not_found(what: str) -> PageError:
    """404, worded the same for a missing resource and another user's."""
    return PageError(404, f"No such {what}", f"This {what} does not exist, or is not yours.")


async def require_page(request: web.Request, workspace_id: str, action: Action, what: str) -> Role:
    """The workspace policy for a page: 404 worded as for a missing `what`, or 403."""
    try:
        return await require(request, workspace_id, action)
    except NotFound:
        raise not_found(what) from None
    except Forbidden as refused:
        raise PageError(
            403, "Not allowed", refused.message[0].upper() + refused.message[1:] + "."
        ) from None


def redirect(location: str) -> web.Response:
    """303 See Other: after a form post the browser follows with a GET."""
    return web.Response(status=303, headers={"Location": location})


def safe_next(value: object) -> str:
    """Where to go after logging in: a dashboard path only, never another site."""
    if (
        isinstance(value, str)
        and value.startswith("/dashboard/")
        and "//" not in value
        and "\\" not in value
        and value.isprintable()
        and len(value) <= 2000
    ):
        return value
    return HOME_PATH


def current_operator(request: web.Request) -> AuthUser:
    """The logged-in user of a page declared with `login=True`."""
    return request[USER]


def form_of(request: web.Request) -> MultiDictProxy[Any]:
    """The posted form, already read and checked by `page`."""
    return request[FORM]


def field(request: web.Request, name: str) -> str:
    """A text field of the posted form ('' when absent)."""
    value = request[FORM].get(name)
    return value if isinstance(value, str) else ""


def render(
    request: web.Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
) -> web.Response:
    """A dashboard template with what every page shows: the user, CSRF token and notes."""
    session = request[SESSION]
    shared: dict[str, Any] = {
        "user": request.get(USER),
        "csrf_field": CSRF_FIELD,
        "csrf_token": csrf_token(session),
        "flashes": take_flashes(session),
        "path": request.path,
        "errors": {},
        "workspaces": workspaces_of_page(request),
        "workspace": current_workspace(request),
    }
    return aiohttp_jinja2.render_template(
        f"dashboard/{template}", request, {**shared, **(context or {})}, status=status
    )


def error_page(request: web.Request, status: int, title: str, message: str) -> web.Response:
    """An HTML error page: what went wrong and what to do."""
    return render(request, "error.html", {"title": title, "message": message}, status=status)


def _content_security_policy(request: web.Request) -> str:
    scheme = "wss" if served_over_https(request, request.app[keys.SETTINGS]) else "ws"
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: https:",
            f"connect-src 'self' {scheme}://{request.host}",
            "frame-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        )
    )


def _protect(request: web.Request, response: web.StreamResponse) -> None:
    """Headers of every dashboard answer: never cached, never framed, scripts only from us."""
    headers = response.headers
    headers["Cache-Control"] = "no-store"
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    headers.setdefault("Content-Security-Policy", _content_security_policy(request))


async def _read_form(request: web.Request) -> MultiDictProxy[Any] | web.Response:
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge:
        limit = request.client_max_size
        return error_page(
            request,
            413,
            "The form is too large",
            f"The form sent more than {limit // 1024} KiB, so nothing was saved. "
            "Shorten the text (large documents go in as file uploads) and send it again.",
        )
    except ValueError:  # undecodable text or a malformed body
        return error_page(
            request,
            400,
            "The form could not be read",
            "The browser sent a form that is not valid UTF-8 text. Nothing was saved.",
        )
    if any(isinstance(value, str) and "\x00" in value for value in form.values()):
        return error_page(
            request,
            400,
            "The form could not be read",
            "A field contains a NUL character, which cannot be stored. Nothing was saved.",
        )
    return form


def csrf_refused(request: web.Request) -> web.Response:
    """403 for a form post without this session's token; nothing of it was used."""
    return error_page(
        request,
        403,
        "This form has expired",
        "The form did not carry this session's security token: it was sent from another site, "
        "or your session changed since the page was loaded (you logged out or in again). "
        "Nothing was saved. Go back, reload the page and send the form again.",
    )


def require_csrf(request: web.Request, sent: object) -> None:
    """For handlers that read their own body (multipart uploads): refuse a wrong token."""
    if not csrf_valid(request[SESSION], sent):
        raise CsrfRefused


async def _serve(
    request: web.Request, handler: Handler, *, login: bool, json: bool, own_body: bool
) -> web.StreamResponse:
    session = request[SESSION]
    if login:
        user = await session_user(request.app, session)
        if user is None:
            if json:
                body = {"error": {"code": "not_authenticated", "message": "log in again"}}
                return json_response(body, status=401)
            if session.get(USER_ID) is not None:
                log_out(session)
                flash(session, "error", "Your session has ended (was the password changed?).")
            target = request.path_qs if request.method == "GET" else HOME_PATH
            return redirect(f"{LOGIN_PATH}?next={quote(safe_next(target), safe='/')}")
        request[USER] = user
        await load_workspaces(request, user.id)
    if request.method == "POST" and not own_body:
        form = await _read_form(request)
        if isinstance(form, web.Response):
            return form
        if not csrf_valid(session, form.get(CSRF_FIELD)):
            return csrf_refused(request)
        request[FORM] = form
    try:
        return await handler(request)
    except CsrfRefused:
        return csrf_refused(request)
    except PageError as exc:
        return error_page(request, exc.status, exc.title, exc.message)
    except RateLimited as exc:
        response = error_page(request, exc.status, "Too many attempts", exc.message)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except ApiError as exc:
        return error_page(request, exc.status, "That did not work", exc.message)


def page(
    *, login: bool = True, json: bool = False, own_body: bool = False
) -> Callable[[Handler], Handler]:
    """Wrap a dashboard handler: session (`login`), CSRF on posts, HTML errors, headers.

    `own_body`: the handler reads the body itself (multipart) and calls `require_csrf`.
    """

    def decorate(handler: Handler) -> Handler:
        @public
        @functools.wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            sessions = sessions_of(request.app)
            session = await sessions.load(request)
            request[SESSION] = session
            response = await _serve(request, handler, login=login, json=json, own_body=own_body)
            await sessions.save(request, response, session)
            _protect(request, response)
            return response

        return wrapper

    return decorate
