"""One function per chatbot write: the write, and every cache and index it must leave.

REST handlers, dashboard views and the demo seeding call these after checking the workspace
policy, so that a chatbot written from anywhere is seen at once by the widget and the chat
on every instance (their lookups by slug and id are cached, see `lookup.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from chatbot import keys
from chatbot.brains.schemas import (
    BrainConfig,
    OpenAIBrainConfig,
    keep_api_key,
    parse_brain_config,
    stored_brain_config,
)
from chatbot.brains.targets import ensure_allowed_base_url
from chatbot.chatbots import repository as repo
from chatbot.chatbots.identity import new_identity_secret
from chatbot.chatbots.lookup import forget_chatbot
from chatbot.chatbots.repository import ChatbotRecord, SlugTaken
from chatbot.chatbots.schemas import (
    DEFAULT_GREETING,
    ChatbotCreate,
    ChatbotUpdate,
    Theme,
    TokenBudget,
)
from chatbot.errors import Conflict, NotFound
from chatbot.knowledge.index import knowledge_removed


def chatbot_not_found(chatbot_id: str) -> NotFound:
    return NotFound(f"no chatbot with id {chatbot_id!r}", code="chatbot_not_found")


def _slug_taken(slug: str) -> Conflict:
    message = f"the slug {slug!r} is already used by another chatbot: choose another one"
    return Conflict(message, code="slug_taken", fields=[{"field": "slug", "message": message}])


async def create_chatbot(
    app: web.Application, workspace_id: str, owner_id: str, body: ChatbotCreate
) -> ChatbotRecord:
    """The chatbot `body` describes, in this workspace (its own `workspace_id` is not read).

    Raises 422 `url_not_allowed` for a brain the server must not call, 409 `slug_taken`.
    """
    await ensure_allowed_base_url(body.brain, app[keys.SETTINGS].brains)
    try:
        record = await repo.create_chatbot(
            app[keys.ENGINE],
            workspace_id=workspace_id,
            owner_id=owner_id,
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
    await forget_chatbot(app, record)
    return record


def _stored_brain(stored: Mapping[str, Any]) -> BrainConfig | None:
    try:
        return parse_brain_config(stored)
    except ValidationError:
        return None  # stored by an older version: nothing to keep from it


def _brain(new: BrainConfig, current: ChatbotRecord, *, clear_api_key: bool) -> BrainConfig:
    """The brain to store: the provider key kept when none is sent, or removed on request."""
    if not clear_api_key:
        return keep_api_key(new, _stored_brain(current.brain))
    if isinstance(new, OpenAIBrainConfig):
        return new.model_copy(update={"api_key": None})
    return new


def _changes(body: ChatbotUpdate, current: ChatbotRecord, *, clear_api_key: bool) -> dict[str, Any]:
    """The stored columns the update changes: only the fields it sends."""
    sent = body.model_fields_set
    changes: dict[str, Any] = {}
    for field in ("name", "slug", "allowed_origins", "retention_days", "identity_verification"):
        if field in sent:
            changes[field] = getattr(body, field)
    if "greeting" in sent:
        changes["greeting"] = DEFAULT_GREETING if body.greeting is None else body.greeting
    if "brain" in sent and body.brain is not None:
        brain = _brain(body.brain, current, clear_api_key=clear_api_key)
        changes["brain"] = stored_brain_config(brain)
    if "theme" in sent:
        theme = body.theme.applied_to(dict(current.theme)) if body.theme else Theme()
        changes["theme"] = theme.model_dump()
    if "token_budget" in sent:
        update = body.token_budget
        budget = update.applied_to(dict(current.token_budget)) if update else TokenBudget()
        changes["token_budget"] = budget.model_dump()
    return changes


async def _write(
    app: web.Application, chatbot_id: str, changes: Mapping[str, Any]
) -> ChatbotRecord:
    """Apply the columns' changes, then drop the cached lookups of both the old and new slug."""
    try:
        result = await repo.update_chatbot(app[keys.ENGINE], chatbot_id, changes)
    except SlugTaken as exc:
        raise _slug_taken(exc.slug) from None
    if result is None:  # deleted meanwhile
        raise chatbot_not_found(chatbot_id)
    before, after = result
    await forget_chatbot(app, before, after)
    return after


async def update_chatbot(
    app: web.Application,
    current: ChatbotRecord,
    body: ChatbotUpdate,
    *,
    clear_api_key: bool = False,
) -> ChatbotRecord:
    """The chatbot with the fields `body` sends changed (the others kept); an omitted provider
    key is kept for the same server unless `clear_api_key`.

    Raises 422 `url_not_allowed`, 409 `slug_taken`, 404 `chatbot_not_found`.
    """
    await ensure_allowed_base_url(body.brain, app[keys.SETTINGS].brains)
    changes = _changes(body, current, clear_api_key=clear_api_key)
    if not changes:
        return current
    return await _write(app, current.id, changes)


async def rotate_identity_secret(app: web.Application, chatbot_id: str) -> ChatbotRecord:
    """The chatbot with a new identity secret; raises 404 `chatbot_not_found`.

    Every instance reads the secret through the cached lookups, so the old one leaves them
    here: hashes made with it stop working at once, everywhere.
    """
    return await _write(app, chatbot_id, {"identity_secret": new_identity_secret()})


async def delete_chatbot(app: web.Application, chatbot_id: str) -> ChatbotRecord:
    """Delete the chatbot with its knowledge and conversations; raises 404 `chatbot_not_found`."""
    deleted = await repo.delete_chatbot(app[keys.ENGINE], chatbot_id)
    if deleted is None:  # deleted meanwhile
        raise chatbot_not_found(chatbot_id)
    await forget_chatbot(app, deleted)
    await knowledge_removed(app, deleted.id)
    return deleted
