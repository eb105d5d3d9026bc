"""The team's REST side of the chat: assign a conversation (as the `assign` frame does), and
who of a workspace is online (as `presence` events tell)."""

from __future__ import annotations

from aiohttp import web

from chatbot.chat.service import CHAT
from chatbot.conversations.repository import conversation_by_id
from chatbot.conversations.schemas import AssignmentIn, ConversationOut, PresenceList
from chatbot.errors import Conflict, NotFound
from chatbot.http.responses import json_response
from chatbot.http.routing import RouteTable
from chatbot.http.validation import read_json
from chatbot.workspaces.policy import require
from chatbot.workspaces.repository import members, membership
from chatbot.workspaces.roles import Action


async def update_conversation(request: web.Request) -> web.Response:
    """Assign the conversation to a member of its workspace, or to nobody (`null`)."""
    conversation_id = request.match_info["conversation_id"]
    chat = request.app[CHAT]
    missing = NotFound(
        f"no conversation with id {conversation_id!r}", code="conversation_not_found"
    )
    async with chat.engine.connect() as connection:
        found = await conversation_by_id(connection, conversation_id)
    if found is None:
        raise missing
    await require(request, found.workspace_id, Action.OPERATE, missing=missing)
    body = await read_json(request, AssignmentIn, strict=True)
    assignee_id = body.assignee_id
    if assignee_id is not None and not await membership(
        chat.engine, assignee_id, found.workspace_id
    ):
        raise Conflict(
            f"user {assignee_id!r} is not a member of this conversation's workspace: assign "
            "one of its members, or null for nobody",
            code="not_a_member",
        )
    view, _ = await chat.assign(conversation_id, assignee_id)
    if view is None:
        raise missing
    return json_response(view.as_json())


async def workspace_presence(request: web.Request) -> web.Response:
    """Every member of the workspace, and whether they have an operator socket open."""
    workspace_id = request.match_info["workspace_id"]
    await require(request, workspace_id, Action.READ)
    chat = request.app[CHAT]
    user_ids = [member.user_id for member in await members(chat.engine, workspace_id)]
    online = await chat.presence.online(user_ids)
    items = [{"user_id": user_id, "online": user_id in online} for user_id in user_ids]
    return json_response({"items": items})


def add_assignment_routes(routes: RouteTable) -> None:
    """Register the conversation's REST changes and the workspace's presence."""
    routes.add(
        "PATCH",
        "/api/conversations/{conversation_id}/",
        update_conversation,
        body=AssignmentIn,
        response=ConversationOut,
        errors=(400, 401, 403, 404, 409, 413, 422),
        summary="Assign a conversation to a member of its workspace (or to nobody)",
        tag="conversations",
    )
    routes.add(
        "GET",
        "/api/workspaces/{workspace_id}/presence/",
        workspace_presence,
        response=PresenceList,
        errors=(401, 404),
        summary="Which members of the workspace have an operator socket open",
        tag="workspaces",
    )
