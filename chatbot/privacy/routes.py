"""`/api/chatbots/{id}/visitors/{visitor_id}/`: export and erase a visitor's data."""

from __future__ import annotations

from aiohttp import web

from chatbot import keys
from chatbot.chatbots.routes import chatbot_for
from chatbot.errors import NotFound
from chatbot.http.responses import json_response, no_content
from chatbot.http.routing import RouteTable
from chatbot.privacy.purge_job import purge_context
from chatbot.privacy.schemas import VisitorExport
from chatbot.privacy.visitors import erase_visitor, export_visitor, is_visitor_id
from chatbot.workspaces.roles import Action

TAG = "visitors"


def _visitor_not_found(visitor_id: str) -> NotFound:
    if not is_visitor_id(visitor_id):
        return NotFound(
            f"no visitor with id {visitor_id[:80]!r}: a visitor id is 32 lowercase hex "
            "characters, as conversations show it in `visitor_id`",
            code="visitor_not_found",
        )
    return NotFound(
        f"no visitor with id {visitor_id!r} has a conversation with this chatbot "
        "(never stored, already erased, or deleted by the retention policy)",
        code="visitor_not_found",
    )


async def export_visitor_data(request: web.Request) -> web.Response:
    """Every conversation of the visitor with this chatbot, with all its messages."""
    chatbot = await chatbot_for(request, request.match_info["chatbot_id"], Action.MANAGE)
    visitor_id = request.match_info["visitor_id"]
    exported = None
    if is_visitor_id(visitor_id):
        exported = await export_visitor(request.app[keys.ENGINE], chatbot.id, visitor_id)
    if exported is None:
        raise _visitor_not_found(visitor_id)
    return json_response(exported)


async def erase_visitor_data(request: web.Request) -> web.Response:
    """Delete the visitor's conversations, messages and identity data; their open sockets close
    and their visitor token starts a new conversation."""
    chatbot = await chatbot_for(request, request.match_info["chatbot_id"], Action.MANAGE)
    visitor_id = request.match_info["visitor_id"]
    erased = 0
    if is_visitor_id(visitor_id):
        erased = await erase_visitor(request.app, chatbot.id, chatbot.workspace_id, visitor_id)
    if not erased:
        raise _visitor_not_found(visitor_id)
    return no_content()


def setup_privacy(app: web.Application, routes: RouteTable) -> None:
    """The visitor data routes, and the retention job while the app serves."""
    app.cleanup_ctx.append(purge_context)
    item = "/api/chatbots/{chatbot_id}/visitors/{visitor_id}/"
    routes.add(
        "GET",
        item + "export/",
        export_visitor_data,
        response=VisitorExport,
        errors=(401, 404),
        summary="Export a visitor's data (GDPR article 15)",
        tag=TAG,
    )
    routes.add(
        "DELETE",
        item,
        erase_visitor_data,
        status=204,
        errors=(401, 404),
        summary="Erase a visitor's data everywhere (GDPR article 17)",
        tag=TAG,
    )
