"""Conversations made as visitors and operators make them: over the real sockets.

For tests of what reads conversations (the REST lists, the dashboard, tenancy): the rows they
read are the ones the chat itself writes, so a change in how the chat stores them shows here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import ClientWebSocketResponse

Frame = dict[str, Any]
VISITOR_PATH = "/ws/chat/public/{slug}/"
AGENT_PATH = "/ws/chat/agent/"
# The operator frame that puts a conversation in each status (`waiting_for_human` is the
# visitor's `handoff`).
STATUS_FRAMES = {"human": "takeover", "bot": "release", "closed": "close"}


async def _frame_where(
    ws: ClientWebSocketResponse, wanted: Callable[[Frame], bool], timeout: float = 10.0
) -> Frame:
    while True:
        frame: Frame = json.loads(await ws.receive_str(timeout=timeout))
        if wanted(frame):
            return frame


def _message_of(role: str, **fields: Any) -> Callable[[Frame], bool]:
    def wanted(frame: Frame) -> bool:
        if frame["type"] != "message" or frame["message"]["role"] != role:
            return False
        return all(frame["message"][key] == value for key, value in fields.items())

    return wanted


async def visitor_says(
    client: Any,
    slug: str,
    texts: list[str],
    *,
    answered: bool = True,
    handoff: bool = False,
) -> str:
    """A visitor's conversation with these messages; returns its id.

    With `answered`, each message waits for the bot's answer too (an echo chatbot answers every
    one). With `handoff`, the visitor then asks for a person.
    """
    async with client.ws_connect(VISITOR_PATH.format(slug=slug)) as ws:
        welcome = await _frame_where(ws, lambda frame: frame["type"] == "welcome")
        for number, text in enumerate(texts, start=1):
            client_id = f"c{number}"
            await ws.send_json({"type": "message", "text": text, "client_id": client_id})
            await _frame_where(ws, _message_of("visitor", client_id=client_id))
            if answered:
                await _frame_where(ws, _message_of("bot"))
        if handoff:
            await ws.send_json({"type": "handoff"})
            await _frame_where(ws, lambda frame: frame["type"] == "status")
    conversation_id: str = welcome["conversation_id"]
    return conversation_id


async def operator_acts(
    client: Any,
    headers: dict[str, str],
    conversation_id: str,
    *,
    status: str | None = None,
    texts: tuple[str, ...] = (),
    client_prefix: str = "op",
) -> None:
    """The chatbot's operator sets the conversation's status (takeover, release, close) and then
    sends these messages into it, each acknowledged before the next. A second operator in the
    same conversation needs its own `client_prefix` (client ids are unique per conversation)."""
    async with client.ws_connect(AGENT_PATH, headers=headers) as ws:
        await _frame_where(ws, lambda frame: frame["type"] == "auth_ok")
        if status is not None:
            frame = {"type": STATUS_FRAMES[status], "conversation_id": conversation_id}
            await ws.send_json(frame)
            await _frame_where(
                ws,
                lambda event: (
                    event["type"] == "conversation"
                    and event["conversation"]["id"] == conversation_id
                    and event["conversation"]["status"] == status
                ),
            )
        for number, text in enumerate(texts, start=1):
            client_id = f"{client_prefix}{number}"
            message = {"conversation_id": conversation_id, "text": text, "client_id": client_id}
            await ws.send_json({"type": "message", **message})
            await _frame_where(ws, _message_of("operator", client_id=client_id))
