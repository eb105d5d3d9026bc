"""API keys page: a workspace's keys with their last use, create (shown once) and revoke."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from chatbot import keys
from chatbot.apikeys import actions
from chatbot.apikeys.repository import workspace_keys
from chatbot.apikeys.schemas import NAME_MAX, ApiKeyCreate
from chatbot.dashboard.forms import FormErrors, validate_form
from chatbot.dashboard.pages import (
    current_operator,
    field,
    not_found,
    page,
    redirect,
    render,
    require_page,
)
from chatbot.dashboard.session import SESSION, flash
from chatbot.workspaces.policy import workspaces_of
from chatbot.workspaces.repository import Membership
from chatbot.workspaces.roles import Action, permits

BASE = "/dashboard/api-keys/"


def page_url(workspace_id: str) -> str:
    return f"{BASE}?workspace={quote(workspace_id, safe='')}"


async def _managed(request: web.Request) -> list[Membership]:
    """The operator's workspaces where they may manage keys (owner or admin)."""
    return [m for m in await workspaces_of(request) if permits(m.role, Action.MANAGE)]


async def _checked_workspace(request: web.Request, workspace_id: str) -> None:
    """404 for a workspace the operator is not in, 403 for one they may not manage."""
    await require_page(request, workspace_id, Action.MANAGE, "workspace")


async def _page(
    request: web.Request,
    workspace_id: str | None,
    *,
    new_key: str = "",
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    workspaces = await _managed(request)
    if workspace_id is None and workspaces:
        workspace_id = workspaces[0].workspace_id
    if workspace_id is not None and workspace_id not in {m.workspace_id for m in workspaces}:
        await _checked_workspace(request, workspace_id)  # raises the right 404 or 403
        raise not_found("workspace")
    records = (
        [] if workspace_id is None else await workspace_keys(request.app[keys.ENGINE], workspace_id)
    )
    context: dict[str, Any] = {
        "workspaces": workspaces,
        "workspace_id": workspace_id,
        "api_keys": records,
        "new_key": new_key,
        "values": values or {},
        "errors": errors or {},
        "name_max": NAME_MAX,
    }
    return render(request, "api_keys.html", context, status=status)


@page()
async def api_keys_page(request: web.Request) -> web.StreamResponse:
    return await _page(request, request.query.get("workspace") or None)


@page()
async def api_key_create(request: web.Request) -> web.StreamResponse:
    workspace_id = field(request, "workspace_id")
    await _checked_workspace(request, workspace_id)
    values = {"name": field(request, "name")}
    try:
        body = validate_form(ApiKeyCreate, values, ("name",))
    except FormErrors as exc:
        return await _page(request, workspace_id, values=values, errors=exc.errors, status=422)
    user_id = current_operator(request).id
    _, key = await actions.create_key(request.app, workspace_id, body.name, user_id)
    # Rendered rather than redirected: the key is shown once and never kept in the session.
    return await _page(request, workspace_id, new_key=key, status=201)


@page()
async def api_key_delete(request: web.Request) -> web.StreamResponse:
    workspace_id = field(request, "workspace_id")
    await _checked_workspace(request, workspace_id)
    if not await actions.delete_key(request.app, workspace_id, request.match_info["key_id"]):
        raise not_found("API key")
    flash(request[SESSION], "success", "The API key was revoked: it no longer works anywhere.")
    return redirect(page_url(workspace_id))
