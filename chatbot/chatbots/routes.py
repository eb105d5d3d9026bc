"""`/api/chatbots/`: create, list, read, update and delete the user's chatbots."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from chatbot import keys
from chatbot.auth.context import current_user
from chatbot.brains.schemas import (
    BrainConfig,
    keep_api_key,
    parse_brain_config,
    public_brain_config,
    stored_brain_config,
)
from chatbot.brains.targets import ensure_allowed_base_url
from chatbot.chatbots import identity_secret
from chatbot.chatbots import repository as repo
from chatbot.chatbots.lookup import forget_chatbot
from chatbot.chatbots.repository import ChatbotRecord, SlugTaken
from chatbot.chatbots.schemas import (
    DEFAULT_GREETING,
    ChatbotCreate,
    ChatbotList,
    ChatbotOut,
    ChatbotUpdate,
    Theme,
    TokenBudget,
    stored_token_budget,
)
from chatbot.errors import Conflict, NotFound
from chatbot.http.responses import json_response, no_content
from chatbot.http.routing import RouteTable
from chatbot.http.validation import read_json
from chatbot.knowledge.index import knowledge_removed
from chatbot.storage.values import iso

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


def chatbot_out(record: ChatbotRecord, base_url: str, *, manager: bool = True) -> ChatbotOut:
    """The chatbot as the API shows it; its identity secret only to those who may manage it."""
    return ChatbotOut(
        id=record.id,
        slug=record.slug,
        name=record.name,
        greeting=record.greeting,
        allowed_origins=list(record.allowed_origins),
        brain=public_brain_config(record.brain),
        theme=_theme(record.theme),
        token_budget=stored_token_budget(record.token_budget),
        created_at=iso(record.created_at) or "",
        updated_at=iso(record.updated_at) or "",
        embed_snippet=embed_snippet(base_url, record.slug),
        demo_url=f"{base_url}/demo/{record.slug}/",
        retention_days=record.retention_days,
        identity_verification=record.identity_verification,
        identity_secret=record.identity_secret if manager else None,
    )


async def owned_or_404(request: web.Request, chatbot_id: str) -> ChatbotRecord:
    """The user's chatbot; another user's answers exactly like a missing one."""
    record = await repo.owned_chatbot(
        request.app[keys.ENGINE], chatbot_id, current_user(request).id
    )
    if record is None:
        raise NotFound(f"no chatbot with id {chatbot_id!r}", code="chatbot_not_found")
    return record


def _slug_taken(slug: str) -> Conflict:
    return Conflict(
        f"the slug {slug!r} is already used by another chatbot: choose another one",
        code="slug_taken",
    )


async def create_chatbot(request: web.Request) -> web.Response:
    body = await read_json(request, ChatbotCreate, strict=True)
    await ensure_allowed_base_url(body.brain, request.app[keys.SETTINGS].brains)
    user = current_user(request)
    try:
        record = await repo.create_chatbot(
            request.app[keys.ENGINE],
            owner_id=user.id,
            name=body.name,
            slug=body.slug,
            greeting=DEFAULT_GREETING if body.greeting is None else body.greeting,
            allowed_origins=body.allowed_origins,
            brain=stored_brain_config(body.brain or parse_brain_config(None)),
            theme=(body.theme or Theme()).model_dump(),
            token_budget=(body.token_budget or TokenBudget()).model_dump(),
            retention_days=body.retention_days,
            identity_verification=body.identity_verification,
        )
    except SlugTaken as exc:
        raise _slug_taken(exc.slug) from None
    # A lookup of this slug made before it existed may have been cached as missing.
    await forget_chatbot(request.app, record)
    return json_response(chatbot_out(record, public_base_url(request)), status=201)


async def list_chatbots(request: web.Request) -> web.Response:
    records = await repo.list_chatbots(request.app[keys.ENGINE], current_user(request).id)
    base_url = public_base_url(request)
    return json_response(ChatbotList(items=[chatbot_out(r, base_url) for r in records]))


async def get_chatbot(request: web.Request) -> web.Response:
    record = await owned_or_404(request, request.match_info["chatbot_id"])
    return json_response(chatbot_out(record, public_base_url(request)))


def _parsed(stored: Mapping[str, Any]) -> BrainConfig | None:
    try:
        return parse_brain_config(stored)
    except ValidationError:
        return None  # stored by an older version: nothing to keep from it


def _changes(body: ChatbotUpdate, current: ChatbotRecord) -> dict[str, Any]:
    sent = body.model_fields_set
    changes: dict[str, Any] = {}
    for field in ("name", "slug", "allowed_origins", "retention_days", "identity_verification"):
        if field in sent:
            changes[field] = getattr(body, field)
    if "greeting" in sent:
        changes["greeting"] = DEFAULT_GREETING if body.greeting is None else body.greeting
    if "brain" in sent and body.brain is not None:
        changes["brain"] = stored_brain_config(keep_api_key(body.brain, _parsed(current.brain)))
    if "theme" in sent:
        theme = body.theme.applied_to(dict(current.theme)) if body.theme else Theme()
        changes["theme"] = theme.model_dump()
    if "token_budget" in sent:
        update = body.token_budget
        budget = update.applied_to(dict(current.token_budget)) if update else TokenBudget()
        changes["token_budget"] = budget.model_dump()
    return changes


async def update_chatbot(request: web.Request) -> web.Response:
    chatbot_id = request.match_info["chatbot_id"]
    body = await read_json(request, ChatbotUpdate, strict=True)
    current = await owned_or_404(request, chatbot_id)
    await ensure_allowed_base_url(body.brain, request.app[keys.SETTINGS].brains)
    changes = _changes(body, current)
    if not changes:
        return json_response(chatbot_out(current, public_base_url(request)))
    try:
        result = await repo.update_chatbot(
            request.app[keys.ENGINE], chatbot_id, current_user(request).id, changes
        )
    except SlugTaken as exc:
        raise _slug_taken(exc.slug) from None
    if result is None:  # deleted meanwhile
        raise NotFound(f"no chatbot with id {chatbot_id!r}", code="chatbot_not_found")
    before, after = result
    await forget_chatbot(request.app, before, after)
    return json_response(chatbot_out(after, public_base_url(request)))


async def rotate_identity_secret(request: web.Request) -> web.Response:
    """A new identity secret: hashes made with the old one stop working at once."""
    chatbot_id = request.match_info["chatbot_id"]
    await owned_or_404(request, chatbot_id)
    after = await identity_secret.rotate_identity_secret(
        request.app, chatbot_id, current_user(request).id
    )
    if after is None:  # deleted meanwhile
        raise NotFound(f"no chatbot with id {chatbot_id!r}", code="chatbot_not_found")
    return json_response(chatbot_out(after, public_base_url(request)))


async def delete_chatbot(request: web.Request) -> web.Response:
    chatbot_id = request.match_info["chatbot_id"]
    deleted = await repo.delete_chatbot(
        request.app[keys.ENGINE], chatbot_id, current_user(request).id
    )
    if deleted is None:
        raise NotFound(f"no chatbot with id {chatbot_id!r}", code="chatbot_not_found")
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
        errors=(400, 401, 409, 413, 422),
        summary="Create a chatbot",
        tag=TAG,
    )
    routes.add(
        "GET",
        "/api/chatbots/",
        list_chatbots,
        response=ChatbotList,
        errors=(401,),
        summary="List your chatbots",
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
        errors=(400, 401, 404, 409, 413, 422),
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
        errors=(401, 404),
        summary="Delete a chatbot with its knowledge and conversations",
        tag=TAG,
    )
