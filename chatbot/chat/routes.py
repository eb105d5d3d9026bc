"""The chat's routes: the visitor and operator WebSockets."""

from __future__ import annotations

from chatbot.chat.operator_ws import operator_socket
from chatbot.chat.visitor_ws import visitor_socket
from chatbot.http.routing import RouteTable

TAG = "chat"


def add_chat_routes(routes: RouteTable) -> None:
    """Register both sockets (documented in docs/asyncapi.yaml, not in the OpenAPI document)."""
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
