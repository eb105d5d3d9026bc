"""`GET /api/chatbots/{id}/conversations/` and `GET /api/conversations/{id}/messages/`."""

from __future__ import annotations

from aiohttp import web

from chatbot import keys
from chatbot.chatbots.routes import chatbot_for
from chatbot.conversations import repository as repo
from chatbot.conversations.schemas import (
    ConversationList,
    InboxQuery,
    MessageList,
    MessagesQuery,
)
from chatbot.errors import NotFound
from chatbot.http.responses import json_response
from chatbot.http.routing import RouteTable
from chatbot.http.validation import read_query
from chatbot.workspaces.policy import require
from chatbot.workspaces.roles import Action

TAG = "conversations"


async def list_conversations(request: web.Request) -> web.Response:
    query = read_query(request.query, InboxQuery)
    chatbot = await chatbot_for(request, request.match_info["chatbot_id"], Action.READ)
    async with request.app[keys.ENGINE].connect() as connection:
        views = await repo.inbox(
            connection, chatbot.id, limit=query.limit, before=query.before, status=query.status
        )
    return json_response({"items": [view.as_json() for view in views]})


async def list_messages(request: web.Request) -> web.Response:
    query = read_query(request.query, MessagesQuery)
    conversation_id = request.match_info["conversation_id"]
    engine = request.app[keys.ENGINE]
    missing = NotFound(
        f"no conversation with id {conversation_id!r}", code="conversation_not_found"
    )
    async with engine.connect() as connection:
        conversation = await repo.conversation_by_id(connection, conversation_id)
    if conversation is None:
        raise missing
    await require(request, conversation.workspace_id, Action.READ, missing=missing)
    async with engine.connect() as connection:
        views = await repo.messages_after(
            connection, conversation_id, query.after, limit=query.limit + 1
        )
    return json_response(
        {
            "items": [view.as_json() for view in views[: query.limit]],
            "has_more": len(views) > query.limit,
        }
    )


def add_conversation_routes(routes: RouteTable) -> None:
    """Register the conversation read routes."""
    routes.add(
        "GET",
        "/api/chatbots/{chatbot_id}/conversations/",
        list_conversations,
        query=InboxQuery,
        response=ConversationList,
        errors=(401, 404, 422),
        summary="Conversations with a visitor message, newest first",
        tag=TAG,
    )
    routes.add(
        "GET",
        "/api/conversations/{conversation_id}/messages/",
        list_messages,
        query=MessagesQuery,
        response=MessageList,
        errors=(401, 404, 422),
        summary="A conversation's messages after a seq, in seq order",
        tag=TAG,
    )
