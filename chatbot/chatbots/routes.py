"""`/api/chatbots/`: create, list, read, update and delete the chatbots of your workspaces."""

from __future__ import annotations

import html

from aiohttp import web

from chatbot import keys
from chatbot.brains.schemas import public_brain_config
from chatbot.chatbots import actions
from chatbot.chatbots import repository as repo
from chatbot.chatbots.repository import ChatbotRecord
from chatbot.chatbots.schemas import (
    ChatbotCreate,
    ChatbotList,
    ChatbotListQuery,
    ChatbotOut,
    ChatbotUpdate,
    stored_theme,
    stored_token_budget,
)
from chatbot.http.responses import json_response, no_content
from chatbot.http.routing import RouteTable
from chatbot.http.validation import read_json, read_query
from chatbot.storage.values import iso
from chatbot.workspaces.policy import (
    acting_user,
    default_workspace,
    require,
    workspace_ids_for,
    workspaces_of,
)
from chatbot.workspaces.roles import Action, permits

TAG = "chatbots"


def public_base_url(request: web.Request) -> str:
    """Where visitors reach this server: the configured public URL, else the request's origin."""
    configured = request.app[keys.SETTINGS].public_url
    return configured or f"{request.scheme}://{request.host}"


def embed_snippet(base_url: str, slug: str) -> str:
    """The `<script>` tag a site owner pastes into their pages."""
    src = html.escape(f"{base_url}/static/widget.js")
    return f'<script src="{src}" data-chatbot="{html.escape(slug)}" async></script>'


def chatbot_out(record: ChatbotRecord, base_url: str, *, manager: bool = True) -> ChatbotOut:
    """The chatbot as the API shows it; its identity secret only to those who may manage it."""
    return ChatbotOut(
        id=record.id,
        workspace_id=record.workspace_id,
        slug=record.slug,
        name=record.name,
        greeting=record.greeting,
        allowed_origins=list(record.allowed_origins),
        brain=public_brain_config(record.brain),
        theme=stored_theme(record.theme),
        token_budget=stored_token_budget(record.token_budget),
        created_at=iso(record.created_at) or "",
        updated_at=iso(record.updated_at) or "",
        embed_snippet=embed_snippet(base_url, record.slug),
        demo_url=f"{base_url}/demo/{record.slug}/",
        retention_days=record.retention_days,
        identity_verification=record.identity_verification,
        identity_secret=record.identity_secret if manager else None,
    )


async def chatbot_for(request: web.Request, chatbot_id: str, action: Action) -> ChatbotRecord:
    """The chatbot, when the caller may do `action` in its workspace: 404 for non-members,
    exactly like a missing chatbot, 403 for a role that does not permit it."""
    missing = actions.chatbot_not_found(chatbot_id)
    record = await repo.load_chatbot(request.app[keys.ENGINE], chatbot_id=chatbot_id)
    if record is None:
        raise missing
    await require(request, record.workspace_id, action, missing=missing)
    return record


async def create_chatbot(request: web.Request) -> web.Response:
    body = await read_json(request, ChatbotCreate, strict=True)
    if body.workspace_id is None:
        workspace_id = await default_workspace(request)
    else:
        workspace_id = body.workspace_id
        await require(request, workspace_id, Action.MANAGE)
    creator = await acting_user(request, workspace_id)
    record = await actions.create_chatbot(request.app, workspace_id, creator, body)
    return json_response(chatbot_out(record, public_base_url(request)), status=201)


async def list_chatbots(request: web.Request) -> web.Response:
    query = read_query(request.query, ChatbotListQuery)
    if query.workspace_id is not None:
        await require(request, query.workspace_id, Action.READ)
        workspace_ids = [query.workspace_id]
    else:
        workspace_ids = [found.workspace_id for found in await workspaces_of(request)]
    records = await repo.list_chatbots(request.app[keys.ENGINE], workspace_ids)
    managed = set(await workspace_ids_for(request, Action.MANAGE))
    base_url = public_base_url(request)
    items = [chatbot_out(r, base_url, manager=r.workspace_id in managed) for r in records]
    return json_response(ChatbotList(items=items))


async def get_chatbot(request: web.Request) -> web.Response:
    record = await chatbot_for(request, request.match_info["chatbot_id"], Action.READ)
    role = await require(request, record.workspace_id, Action.READ)
    manager = permits(role, Action.MANAGE)
    return json_response(chatbot_out(record, public_base_url(request), manager=manager))


async def update_chatbot(request: web.Request) -> web.Response:
    current = await chatbot_for(request, request.match_info["chatbot_id"], Action.MANAGE)
    body = await read_json(request, ChatbotUpdate, strict=True)
    after = await actions.update_chatbot(request.app, current, body)
    return json_response(chatbot_out(after, public_base_url(request)))


async def rotate_identity_secret(request: web.Request) -> web.Response:
    """A new identity secret: hashes made with the old one stop working at once."""
    current = await chatbot_for(request, request.match_info["chatbot_id"], Action.MANAGE)
    after = await actions.rotate_identity_secret(request.app, current.id)
    return json_response(chatbot_out(after, public_base_url(request)))


async def delete_chatbot(request: web.Request) -> web.Response:
    current = await chatbot_for(request, request.match_info["chatbot_id"], Action.MANAGE)
    await actions.delete_chatbot(request.app, current.id)
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
        "POST",
        item + "identity-secret/",
        rotate_identity_secret,
        response=ChatbotOut,
        errors=(401, 404),
        summary="Replace the chatbot's identity secret (hashes made with the old one stop working)",
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
