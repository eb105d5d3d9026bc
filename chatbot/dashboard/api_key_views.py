"""API keys page: the current workspace's keys with their last use, create (shown once), revoke.

Owners and admins only: an agent gets 403. The forms name their workspace, so that a switch
made in another tab never sends a key to another workspace than the page showed.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chatbot import keys
from chatbot.apikeys import actions
from chatbot.apikeys.repository import workspace_keys
from chatbot.apikeys.schemas import NAME_MAX, ApiKeyCreate
from chatbot.dashboard.forms import FormErrors, validate_form
from chatbot.dashboard.pages import (
    PageError,
    current_operator,
    field,
    not_found,
    page,
    redirect,
    render,
    require_page,
)
from chatbot.dashboard.session import SESSION, flash
from chatbot.dashboard.workspace_context import current_workspace, workspaces_of_page
from chatbot.workspaces.repository import Membership
from chatbot.workspaces.roles import Action

PAGE = "/dashboard/api-keys/"


async def _managed(request: web.Request, workspace_id: str | None) -> Membership:
    """The workspace (the current one unless named), when the user may manage its keys:
    else 404 for one they are not in, 403 for one where they are an agent."""
    if workspace_id is None:
        current = current_workspace(request)
        if current is None:
            raise PageError(403, "No workspace", "You belong to no workspace: ask to be invited.")
        workspace_id = current.workspace_id
    await require_page(request, workspace_id, Action.MANAGE, "workspace")
    for membership in workspaces_of_page(request):
        if membership.workspace_id == workspace_id:
            return membership
    raise not_found("workspace")  # left it between the check and now


async def _page(
    request: web.Request,
    workspace: Membership,
    *,
    new_key: str = "",
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    context: dict[str, Any] = {
        "shown_workspace": workspace,
        "api_keys": await workspace_keys(request.app[keys.ENGINE], workspace.workspace_id),
        "new_key": new_key,
        "values": values or {},
        "errors": errors or {},
        "name_max": NAME_MAX,
    }
    return render(request, "api_keys.html", context, status=status)


@page()
async def api_keys_page(request: web.Request) -> web.StreamResponse:
    return await _page(request, await _managed(request, None))


@page()
async def api_key_create(request: web.Request) -> web.StreamResponse:
    workspace = await _managed(request, field(request, "workspace_id"))
    values = {"name": field(request, "name")}
    try:
        body = validate_form(ApiKeyCreate, values, ("name",))
    except FormErrors as exc:
        return await _page(request, workspace, values=values, errors=exc.errors, status=422)
    user_id = current_operator(request).id
    _, key = await actions.create_key(request.app, workspace.workspace_id, body.name, user_id)
    # Rendered rather than redirected: the key is shown once and never kept in the session.
    return await _page(request, workspace, new_key=key, status=201)


@page()
async def api_key_delete(request: web.Request) -> web.StreamResponse:
    workspace = await _managed(request, field(request, "workspace_id"))
    key_id = request.match_info["key_id"]
    if not await actions.delete_key(request.app, workspace.workspace_id, key_id):
        raise not_found("API key")
    flash(request[SESSION], "success", "The API key was revoked: it no longer works anywhere.")
    return redirect(PAGE)
