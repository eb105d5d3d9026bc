"""`/api/chatbots/`: create, list, read, update and delete the chatbots of your workspaces."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from chatbot import keys
from chatbot.brains.schemas import (
    BrainConfig,
    keep_api_key,
    parse_brain_config,
    public_brain_config,
    stored_brain_config,
)
from chatbot.brains.targets import ensure_allowed_base_url
from chatbot.chatbots import repository as repo
from chatbot.chatbots.lookup import forget_chatbot
from chatbot.chatbots.repository import ChatbotRecord, SlugTaken
from chatbot.chatbots.schemas import (
    DEFAULT_GREETING,
    ChatbotCreate,
    ChatbotList,
    ChatbotListQuery,
    ChatbotOut,
    ChatbotUpdate,
    Theme,
)
from chatbot.errors import Conflict, NotFound
from chatbot.http.responses import json_response, no_content
from chatbot.http.routing import RouteTable
from chatbot.http.validation import read_json, read_query
from chatbot.knowledge.index import knowledge_removed
from chatbot.storage.values import iso
from chatbot.workspaces.policy import acting_user, default_workspace, require, workspaces_of
from chatbot.workspaces.roles import Action

TAG = "chatbots"


def public_base_url(request: web.Request) -> str:
    """Where visitors reach this server: the configured public URL, else the request's origin."""
    configured = request.app[keys.SETTINGS].public_url
    return configured or f"{request.scheme}://{request.host}"


def embed_snippet(base_url: str, slug: str) -> str:
    """The `<script>` tag a site owner pastes into their pages."""
    src = html.escape(f"{base_url}/static/widget.js")
    return f'<script src="{src}" data-chatbot="{html.escape(slug)}" async></script>'


def _theme(stored: Mapping[str, Any]) -> Theme:
    try:
        return Theme.model_validate(dict(stored))
    except ValidationError:
        return Theme()  # written by another version: show the defaults rather than fail


def chatbot_out(record: ChatbotRecord, base_url: str) -> ChatbotOut:
    return ChatbotOut(
        id=record.id,
        workspace_id=record.workspace_id,
        slug=record.slug,
        name=record.name,
        greeting=record.greeting,
        allowed_origins=list(record.allowed_origins),
        brain=public_brain_config(record.brain),
        theme=_theme(record.theme),
        created_at=iso(record.created_at) or "",
        updated_at=iso(record.updated_at) or "",
        embed_snippet=embed_snippet(base_url, record.slug),
        demo_url=f"{base_url}/demo/{record.slug}/",
    )


def _chatbot_not_found(chatbot_id: str) -> NotFound:
    return NotFound(f"no chatbot with id {chatbot_id!r}", code="chatbot_not_found")


async def chatbot_for(request: web.Request, chatbot_id: str, action: Action) -> ChatbotRecord:
    """The chatbot, when the caller may do `action` in its workspace: 404 for non-members,
    exactly like a missing chatbot, 403 for a role that does not permit it."""
    missing = _chatbot_not_found(chatbot_id)
    record = await repo.load_chatbot(request.app[keys.ENGINE], chatbot_id=chatbot_id)
    if record is None:
        raise missing
    await require(request, record.workspace_id, action, missing=missing)
    return record


def _slug_taken(slug: str) -> Conflict:
    return Conflict(
        f"the slug {slug!r} is already used by another chatbot: choose another one",
        code="slug_taken",
    )


async def create_chatbot(request: web.Request) -> web.Response:
    body = await read_json(request, ChatbotCreate, strict=True)
    if body.workspace_id is None:
        workspace_id = await default_workspace(request)
    else:
        workspace_id = body.workspace_id
        await require(request, workspace_id, Action.MANAGE)
    await ensure_allowed_base_url(body.brain, request.app[keys.SETTINGS].brains)
    creator = await acting_user(request, workspace_id)
    try:
        record = await repo.create_chatbot(
            request.app[keys.ENGINE],
            workspace_id=workspace_id,
            owner_id=creator,
            name=body.name,
            slug=body.slug,
            greeting=DEFAULT_GREETING if body.greeting is None else body.greeting,
            allowed_origins=body.allowed_origins,
            brain=stored_brain_config(body.brain or parse_brain_config(None)),
            theme=(body.theme or Theme()).model_dump(),
        )
    except SlugTaken as exc:
        raise _slug_taken(exc.slug) from None
    # A lookup of this slug made before it existed may have been cached as missing.
    await forget_chatbot(request.app, record)
    return json_response(chatbot_out(record, public_base_url(request)), status=201)


async def list_chatbots(request: web.Request) -> web.Response:
    query = read_query(request.query, ChatbotListQuery)
    if query.workspace_id is not None:
        await require(request, query.workspace_id, Action.READ)
        workspace_ids = [query.workspace_id]
    else:
        workspace_ids = [found.workspace_id for found in await workspaces_of(request)]
    records = await repo.list_chatbots(request.app[keys.ENGINE], workspace_ids)
    base_url = public_base_url(request)
    return json_response(ChatbotList(items=[chatbot_out(r, base_url) for r in records]))


async def get_chatbot(request: web.Request) -> web.Response:
    record = await chatbot_for(request, request.match_info["chatbot_id"], Action.READ)
    return json_response(chatbot_out(record, public_base_url(request)))


def _parsed(stored: Mapping[str, Any]) -> BrainConfig | None:
    try:
        return parse_brain_config(stored)
    except ValidationError:
        return None  # stored by an older version: nothing to keep from it


def _changes(body: ChatbotUpdate, current: ChatbotRecord) -> dict[str, Any]:
    sent = body.model_fields_set
    changes: dict[str, Any] = {}
    for field in ("name", "slug", "allowed_origins"):
        if field in sent:
            changes[field] = getattr(body, field)
    if "greeting" in sent:
        changes["greeting"] = DEFAULT_GREETING if body.greeting is None else body.greeting
    if "brain" in sent and body.brain is not None:
        changes["brain"] = stored_brain_config(keep_api_key(body.brain, _parsed(current.brain)))
    if "theme" in sent:
        theme = body.theme.applied_to(dict(current.theme)) if body.theme else Theme()
        changes["theme"] = theme.model_dump()
    return changes


async def update_chatbot(request: web.Request) -> web.Response:
    chatbot_id = request.match_info["chatbot_id"]
    current = await chatbot_for(request, chatbot_id, Action.MANAGE)
    body = await read_json(request, ChatbotUpdate, strict=True)
    await ensure_allowed_base_url(body.brain, request.app[keys.SETTINGS].brains)
    changes = _changes(body, current)
    if not changes:
        return json_response(chatbot_out(current, public_base_url(request)))
    try:
        result = await repo.update_chatbot(request.app[keys.ENGINE], chatbot_id, changes)
    except SlugTaken as exc:
        raise _slug_taken(exc.slug) from None
    if result is None:  # deleted meanwhile
        raise _chatbot_not_found(chatbot_id)
    before, after = result
    await forget_chatbot(request.app, before, after)
    return json_response(chatbot_out(after, public_base_url(request)))


async def delete_chatbot(request: web.Request) -> web.Response:
    chatbot_id = request.match_info["chatbot_id"]
    await chatbot_for(request, chatbot_id, Action.MANAGE)
    deleted = await repo.delete_chatbot(request.app[keys.ENGINE], chatbot_id)
    if deleted is None:  # deleted meanwhile
        raise _chatbot_not_found(chatbot_id)
    await forget_chatbot(request.app, deleted)
    await knowledge_removed(request.app, deleted.id)
    return no_content()


def add_chatbot_routes(routes: RouteTable) -> None:
    """Register the chatbot routes."""
    item = "/api/chatbots/{chatbot_id}/"
    routes.add(
        "POST",
        "/api/chatbots/",
        create_chatbot,
        body=ChatbotCreate,
        response=ChatbotOut,
        status=201,
        errors=(400, 401, 403, 404, 409, 413, 422),
        summary="Create a chatbot",
        tag=TAG,
    )
    routes.add(
        "GET",
        "/api/chatbots/",
        list_chatbots,
        query=ChatbotListQuery,
        response=ChatbotList,
        errors=(401, 404, 422),
        summary="List the chatbots of your workspaces",
        tag=TAG,
    )
    routes.add(
        "GET",
        item,
        get_chatbot,
        response=ChatbotOut,
        errors=(401, 404),
        summary="A chatbot",
        tag=TAG,
    )
    routes.add(
        "PATCH",
        item,
        update_chatbot,
        body=ChatbotUpdate,
        response=ChatbotOut,
        errors=(400, 401, 403, 404, 409, 413, 422),
        summary="Change some fields of a chatbot",
        tag=TAG,
    )
    routes.add(
        "DELETE",
        item,
        delete_chatbot,
        status=204,
        errors=(401, 403, 404),
        summary="Delete a chatbot with its knowledge and conversations",
        tag=TAG,
    )
