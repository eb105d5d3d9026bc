"""A provider that reports (or withholds) `usage`, and the calls the spend tests repeat."""

from __future__ import annotations

import json
import uuid
from typing import Any

import api_support
from aiohttp import web

from support import FakeModel

ANSWER = ["Our shop ", "opens at ", "nine."]


class MeteredModel(FakeModel):
    """An OpenAI-compatible server streaming `words`, then (when asked for it with
    `stream_options.include_usage` and `usage` is set) a usage chunk; keeps the requests."""

    def __init__(
        self, words: list[str] = ANSWER, *, usage: tuple[int, int] | None = (40, 10)
    ) -> None:
        super().__init__(words, delay=0.0)
        self.usage = usage
        self.requests: list[dict[str, Any]] = []

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for word in self.words:
            chunk = {"choices": [{"index": 0, "delta": {"content": word}}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        done = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        await response.write(f"data: {json.dumps(done)}\n\n".encode())
        asked = (body.get("stream_options") or {}).get("include_usage") is True
        if self.usage is not None and asked:
            prompt, completion = self.usage
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
            last = {"choices": [], "usage": usage}
            await response.write(f"data: {json.dumps(last)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


async def owner(http: Any) -> dict[str, str]:
    """A new account's bearer header."""
    return api_support.bearer((await api_support.register(http))["access"])


async def openai_chatbot(
    http: Any, headers: dict[str, str], model: MeteredModel, budget: dict[str, Any]
) -> dict[str, Any]:
    """A chatbot answering through `model`, with this token budget."""
    brain = {"type": "openai", "base_url": model.base_url, "model": "metered"}
    return await api_support.create_chatbot(
        http, headers, name="Shop", greeting="", brain=brain, token_budget=budget
    )


def visitor_path(slug: str) -> str:
    return f"/ws/chat/public/{slug}/"


async def frame_where(ws: Any, kind: str, role: str | None = None) -> dict[str, Any]:
    """The next frame of this type (and message role), skipping the others."""
    while True:
        frame: dict[str, Any] = json.loads(await ws.receive_str(timeout=10))
        if frame["type"] == kind and (role is None or frame["message"]["role"] == role):
            return frame


async def ask(ws: Any, text: str) -> dict[str, Any]:
    """Send `text` as the visitor and return the bot's answer (the stored message)."""
    await ws.send_json({"type": "message", "text": text, "client_id": uuid.uuid4().hex})
    message: dict[str, Any] = (await frame_where(ws, "message", "bot"))["message"]
    return message


async def handed_off(ws: Any) -> None:
    """The visitor is told the conversation now waits for a person."""
    frame = await frame_where(ws, "status")
    assert frame["status"] == "waiting_for_human", frame


async def usage(http: Any, headers: dict[str, str], chatbot_id: str) -> dict[str, Any]:
    response = await http.get(f"/api/chatbots/{chatbot_id}/usage/", headers=headers)
    body: dict[str, Any] = await response.json()
    assert response.status == 200, body
    return body
