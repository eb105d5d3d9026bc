"""The baseline for bench/ws_chat.py: a bare aiohttp WebSocket server speaking the same frames.

It answers a visitor exactly as the chat does with the echo brain (welcome; then for each
message: the acknowledgement, `typing`, one `bot_token`, the bot's message), with no storage,
no hub, no validation beyond reading the JSON: what aiohttp alone costs.

    .venv/bin/python bench/bare_ws_server.py --port 8099 [--loop asyncio|uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web


def encode(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def message(conversation_id: str, seq: int, role: str, text: str, client_id: str | None) -> str:
    return encode(
        {
            "type": "message",
            "message": {
                "id": str(uuid.uuid4()),
                "seq": seq,
                "conversation_id": conversation_id,
                "role": role,
                "text": text,
                "client_id": client_id,
                "created_at": datetime.now(UTC).isoformat(),
            },
        }
    )


async def visitor(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(max_msg_size=65_536, compress=False, heartbeat=30.0)
    await ws.prepare(request)
    conversation_id = str(uuid.uuid4())
    seq = 0
    await ws.send_str(
        encode(
            {
                "type": "welcome",
                "conversation_id": conversation_id,
                "visitor_token": uuid.uuid4().hex,
                "chatbot": {"slug": request.match_info["slug"], "name": "Bare", "theme": {}},
                "last_seq": 0,
                "status": "bot",
            }
        )
    )
    async for received in ws:
        if received.type is not WSMsgType.TEXT:
            continue
        frame = json.loads(received.data)
        if frame.get("type") != "message":
            continue
        text, client_id = frame["text"], frame["client_id"]
        seq += 1
        await ws.send_str(message(conversation_id, seq, "visitor", text, client_id))
        await ws.send_str(
            encode({"type": "typing", "role": "bot", "conversation_id": conversation_id})
        )
        await ws.send_str(
            encode({"type": "bot_token", "delta": text, "conversation_id": conversation_id})
        )
        seq += 1
        await ws.send_str(message(conversation_id, seq, "bot", text, None))
    return ws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    args = parser.parse_args()
    app = web.Application()
    app.router.add_get("/ws/chat/public/{slug}/", visitor)
    app.router.add_get("/healthz", lambda _request: web.json_response({"status": "ok"}))
    if args.loop == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None, loop=loop)


if __name__ == "__main__":
    main()
