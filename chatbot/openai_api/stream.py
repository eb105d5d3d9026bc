"""The server-sent events of a streamed completion: `data: {chunk}` lines, then `data: [DONE]`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chatbot.brains.usage import TokenUsage
from chatbot.http.responses import dumps

DONE = b"data: [DONE]\n\n"


class ChunkWriter:
    """Writes the chunks of one completion, each a `chat.completion.chunk` event."""

    def __init__(self, response: web.StreamResponse, completion_id: str, created: int, model: str):
        self._response = response
        self._head = {"id": completion_id, "object": "chat.completion.chunk", "created": created}
        self._model = model

    def _event(self, choices: list[dict[str, Any]], usage: TokenUsage | None = None) -> bytes:
        chunk: dict[str, Any] = {**self._head, "model": self._model, "choices": choices}
        if usage is not None:
            chunk["usage"] = usage.as_json()
        return b"data: " + dumps(chunk).encode() + b"\n\n"

    async def start(self) -> None:
        """The first chunk: the assistant's role, no text yet (as OpenAI sends it)."""
        delta = {"role": "assistant", "content": ""}
        await self._response.write(self._event([_choice(delta)]))

    async def text(self, delta: str) -> None:
        await self._response.write(self._event([_choice({"content": delta})]))

    async def end(self, usage: TokenUsage | None) -> None:
        """The finish reason, the usage chunk if asked for, then `[DONE]`."""
        last = self._event([_choice({}, "stop")])
        if usage is not None:
            last += self._event([], usage)
        await self._response.write(last + DONE)


def _choice(delta: dict[str, str], finish_reason: str | None = None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}


async def open_event_stream(request: web.Request, headers: dict[str, str]) -> web.StreamResponse:
    """A prepared `text/event-stream` response, not buffered by proxies."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            **headers,
        }
    )
    await response.prepare(request)
    return response
