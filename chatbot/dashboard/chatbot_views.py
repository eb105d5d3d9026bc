"""Chatbot pages: the list, create, edit (with the widget preview and embed snippet), delete."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chatbot import keys
from chatbot.chatbots import actions
from chatbot.chatbots import repository as repo
from chatbot.chatbots.identity import VERIFICATION_MODES
from chatbot.chatbots.repository import ChatbotRecord
from chatbot.chatbots.routes import embed_snippet, public_base_url
from chatbot.chatbots.schemas import ChatbotUpdate
from chatbot.dashboard import chatbot_forms as forms
from chatbot.dashboard.forms import FormErrors, api_errors
from chatbot.dashboard.pages import (
    PageError,
    current_operator,
    field,
    form_of,
    not_found,
    page,
    redirect,
    render,
    require_page,
)
from chatbot.dashboard.session import SESSION, flash
from chatbot.dashboard.workspace_context import current_workspace, shown_workspace_ids
from chatbot.errors import Conflict, ValidationFailed
from chatbot.spend.notices import budget_notices
from chatbot.storage.values import utcnow
from chatbot.workspaces.roles import Action


async def owned_chatbot(
    request: web.Request, action: Action = Action.READ, chatbot_id: str | None = None
) -> ChatbotRecord:
    """The chatbot named in the path, when the user may do `action` in its workspace; one of
    another workspace is 404, as a missing one."""
    chatbot_id = chatbot_id or request.match_info["chatbot_id"]
    record = await repo.load_chatbot(request.app[keys.ENGINE], chatbot_id=chatbot_id)
    if record is None:
        raise not_found("chatbot")
    await require_page(request, record.workspace_id, action, "chatbot")
    return record


def _form_page(
    request: web.Request,
    values: dict[str, str],
    record: ChatbotRecord | None,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    base_url = public_base_url(request)
    context: dict[str, Any] = {
        "chatbot": record,
        "values": values,
        "errors": errors or {},
        "brain_types": forms.BRAIN_TYPES,
        "api_key_set": forms.api_key_set(record),
        "embed_snippet": embed_snippet(base_url, record.slug) if record else "",
        "demo_path": f"/demo/{record.slug}/" if record else "",
    }
    return render(request, "chatbot_form.html", context, status=status)


@page()
async def chatbot_list(request: web.Request) -> web.StreamResponse:
    engine = request.app[keys.ENGINE]
    records = await repo.list_chatbots(engine, shown_workspace_ids(request))
    notices = await budget_notices(engine, records, utcnow().date())
    return render(request, "chatbots.html", {"chatbots": records, "budget_notices": notices})


async def _new_chatbots_workspace(request: web.Request) -> str:
    """The current workspace, when the user may add chatbots to it (403 page otherwise)."""
    current = current_workspace(request)
    if current is None:
        raise PageError(403, "No workspace", "You belong to no workspace: ask to be invited.")
    await require_page(request, current.workspace_id, Action.MANAGE, "workspace")
    return current.workspace_id


@page()
async def chatbot_new(request: web.Request) -> web.StreamResponse:
    await _new_chatbots_workspace(request)
    return _form_page(request, forms.blank_values(), None)


@page()
async def chatbot_create(request: web.Request) -> web.StreamResponse:
    values = forms.posted_values(form_of(request))
    try:
        body = forms.creation(values)
        workspace_id = await _new_chatbots_workspace(request)
        owner_id = current_operator(request).id
        record = await actions.create_chatbot(request.app, workspace_id, owner_id, body)
    except FormErrors as exc:
        return _form_page(request, values, None, errors=exc.errors, status=422)
    except (ValidationFailed, Conflict) as exc:  # a private base_url, a taken slug
        errors = api_errors(exc, forms.TEXT_FIELDS)
        return _form_page(request, values, None, errors=errors, status=exc.status)
    flash(request[SESSION], "success", f"“{record.name}” is created. Now give it some knowledge.")
    return redirect(f"/dashboard/chatbots/{record.id}/knowledge/")


@page()
async def chatbot_edit(request: web.Request) -> web.StreamResponse:
    record = await owned_chatbot(request)
    return _form_page(request, forms.stored_values(record), record)


@page()
async def chatbot_update(request: web.Request) -> web.StreamResponse:
    current = await owned_chatbot(request, Action.MANAGE)
    values = forms.posted_values(form_of(request))
    clear_key = field(request, "clear_api_key") == "1"
    try:
        body = forms.update(values)
        after = await actions.update_chatbot(request.app, current, body, clear_api_key=clear_key)
    except FormErrors as exc:
        return _form_page(request, values, current, errors=exc.errors, status=422)
    except (ValidationFailed, Conflict) as exc:  # a private base_url, a taken slug
        errors = api_errors(exc, forms.TEXT_FIELDS)
        return _form_page(request, values, current, errors=errors, status=exc.status)
    flash(request[SESSION], "success", "Saved. New conversations use these settings.")
    return redirect(f"/dashboard/chatbots/{after.id}/")


@page()
async def identity_update(request: web.Request) -> web.StreamResponse:
    """The chatbot's identity verification mode, from its own small form."""
    current = await owned_chatbot(request, Action.MANAGE)
    mode = field(request, "identity_verification")
    if mode not in VERIFICATION_MODES:
        flash(request[SESSION], "error", "Choose off, optional or required.")
        return redirect(f"/dashboard/chatbots/{current.id}/")
    update = ChatbotUpdate.model_validate({"identity_verification": mode})
    await actions.update_chatbot(request.app, current, update)
    flash(request[SESSION], "success", f"Identity verification is now {mode}.")
    return redirect(f"/dashboard/chatbots/{current.id}/")


@page()
async def identity_secret_rotate(request: web.Request) -> web.StreamResponse:
    """A new identity secret; the hashes the site made with the old one stop working."""
    current = await owned_chatbot(request, Action.MANAGE)
    await actions.rotate_identity_secret(request.app, current.id)
    flash(
        request[SESSION],
        "success",
        "A new identity secret is made: give it to your site's backend; old hashes no longer work.",
    )
    return redirect(f"/dashboard/chatbots/{current.id}/")


@page()
async def chatbot_delete_confirm(request: web.Request) -> web.StreamResponse:
    record = await owned_chatbot(request, Action.MANAGE)
    return render(request, "chatbot_delete.html", {"chatbot": record})


@page()
async def chatbot_delete(request: web.Request) -> web.StreamResponse:
    record = await owned_chatbot(request, Action.MANAGE)
    await actions.delete_chatbot(request.app, record.id)
    flash(request[SESSION], "success", f"“{record.name}” and its conversations are deleted.")
    return redirect("/dashboard/chatbots/")
