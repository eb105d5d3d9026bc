"""Chatbot pages: the list, create, edit (with the widget preview and embed snippet), delete."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chatbot import keys
from chatbot.brains.schemas import BrainConfig, parse_brain_config, stored_brain_config
from chatbot.brains.targets import base_url_problem
from chatbot.chatbots import repository as repo
from chatbot.chatbots.lookup import forget_chatbot
from chatbot.chatbots.repository import ChatbotRecord, SlugTaken
from chatbot.chatbots.routes import embed_snippet, public_base_url
from chatbot.chatbots.schemas import DEFAULT_GREETING, Theme
from chatbot.dashboard import chatbot_forms as forms
from chatbot.dashboard.forms import FormErrors
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
from chatbot.knowledge.index import knowledge_removed
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


async def _check_base_url(request: web.Request, brain: BrainConfig | None) -> None:
    problem = await base_url_problem(brain, request.app[keys.SETTINGS].brains)
    if problem is not None:
        raise FormErrors({"base_url": problem[0].upper() + problem[1:] + "."})


def _slug_taken(slug: str) -> FormErrors:
    return FormErrors({"slug": f"The slug {slug!r} is already used: choose another one."})


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
    records = await repo.list_chatbots(request.app[keys.ENGINE], shown_workspace_ids(request))
    return render(request, "chatbots.html", {"chatbots": records})


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
        await _check_base_url(request, body.brain)
        workspace_id = await _new_chatbots_workspace(request)
        record = await repo.create_chatbot(
            request.app[keys.ENGINE],
            workspace_id=workspace_id,
            owner_id=current_operator(request).id,
            name=body.name,
            slug=body.slug,
            greeting=DEFAULT_GREETING if body.greeting is None else body.greeting,
            allowed_origins=body.allowed_origins,
            brain=stored_brain_config(body.brain or parse_brain_config(None)),
            theme=(body.theme or Theme()).model_dump(),
        )
    except SlugTaken as exc:
        return _form_page(request, values, None, errors=_slug_taken(exc.slug).errors, status=409)
    except FormErrors as exc:
        return _form_page(request, values, None, errors=exc.errors, status=422)
    # A lookup of this slug made before it existed may have been cached as missing.
    await forget_chatbot(request.app, record)
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
    try:
        clear_key = field(request, "clear_api_key") == "1"
        changes = forms.changes(values, current, clear_api_key=clear_key)
        await _check_base_url(request, parse_brain_config(changes["brain"]))
        result = await repo.update_chatbot(request.app[keys.ENGINE], current.id, changes)
    except SlugTaken as exc:
        return _form_page(request, values, current, errors=_slug_taken(exc.slug).errors, status=409)
    except FormErrors as exc:
        return _form_page(request, values, current, errors=exc.errors, status=422)
    if result is None:  # deleted meanwhile
        raise not_found("chatbot")
    before, after = result
    await forget_chatbot(request.app, before, after)
    flash(request[SESSION], "success", "Saved. New conversations use these settings.")
    return redirect(f"/dashboard/chatbots/{after.id}/")


@page()
async def chatbot_delete_confirm(request: web.Request) -> web.StreamResponse:
    record = await owned_chatbot(request, Action.MANAGE)
    return render(request, "chatbot_delete.html", {"chatbot": record})


@page()
async def chatbot_delete(request: web.Request) -> web.StreamResponse:
    record = await owned_chatbot(request, Action.MANAGE)
    deleted = await repo.delete_chatbot(request.app[keys.ENGINE], record.id)
    if deleted is not None:
        await forget_chatbot(request.app, deleted)
        await knowledge_removed(request.app, deleted.id)
    flash(request[SESSION], "success", f"“{record.name}” and its conversations are deleted.")
    return redirect("/dashboard/chatbots/")
