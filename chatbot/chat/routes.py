"""The chat's routes: the visitor and operator WebSockets, and assigning a conversation."""

from __future__ import annotations

from chatbot.chat.assignment_routes import add_assignment_routes
from chatbot.chat.operator_ws import operator_socket
from chatbot.chat.visitor_ws import visitor_socket
from chatbot.http.routing import RouteTable

TAG = "chat"


def add_chat_routes(routes: RouteTable) -> None:
    """Register both sockets (documented in docs/asyncapi.yaml, not in the OpenAPI document),
    and the REST change of a conversation that the operators are told about."""
    add_assignment_routes(routes)
    routes.add(
        "GET",
        "/ws/chat/public/{slug}/",
        visitor_socket,
        summary="The visitor's chat WebSocket (see the AsyncAPI document)",
        tag=TAG,
        errors=(400, 403, 404, 429, 503),
        in_schema=False,
    )
    routes.add(
        "GET",
        "/ws/chat/agent/",
        operator_socket,
        summary="The operators' chat WebSocket (see the AsyncAPI document)",
        tag=TAG,
        errors=(400, 403, 429, 503),
        in_schema=False,
    )
