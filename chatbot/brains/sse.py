"""Parsing of OpenAI-style streamed chat completions: server-sent events of JSON chunks. Pure."""

from __future__ import annotations

import json
from typing import Any, TypeGuard

from chatbot.brains.base import Usage

DONE = "[DONE]"


class StreamError(ValueError):
    """The provider sent something the chat completions API never sends; the message says what."""


class SseDecoder:
    """Server-sent events fed line by line; `feed` returns an event's data once it is complete."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        """Take one line (its line break may be included); the event's data on a blank line."""
        line = line.rstrip("\r\n")
        if not line:
            return self.flush()
        if line.startswith(":"):
            return None  # a comment, sent by some servers as a keep-alive
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value.removeprefix(" "))
        # event:, id: and retry: lines carry nothing a chat completion needs.
        return None

    def flush(self) -> str | None:
        """The pending event's data at the end of the stream, if any."""
        if not self._data:
            return None
        data, self._data = "\n".join(self._data), []
        return data


def completion_delta(data: str) -> str | None:
    """The text of one streamed chunk ("" when it has none), or None for the `[DONE]` marker."""
    chunk = completion_chunk(data)
    return None if chunk is None else chunk_text(chunk)


def completion_chunk(data: str) -> dict[str, Any] | None:
    """One streamed chunk as a JSON object, or None for the `[DONE]` marker."""
    if data.strip() == DONE:
        return None
    try:
        chunk = json.loads(data)
    except ValueError:
        raise StreamError(f"a data line is not JSON: {data[:80]!r}") from None
    if not isinstance(chunk, dict):
        raise StreamError("a data line is not a JSON object")
    _raise_for_error(chunk)
    return chunk


def chunk_text(chunk: dict[str, Any]) -> str:
    """The text of one streamed chunk, "" when it has none."""
    choices = chunk.get("choices")
    if choices is None or choices == []:
        return ""  # usage-only and keep-alive chunks
    if not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise StreamError("'choices' is not a list of objects")
    delta = choices[0].get("delta") or {}
    if not isinstance(delta, dict):
        raise StreamError("'delta' is not an object")
    content = delta.get("content")
    if content is None:
        return ""  # the role-only first chunk, or the finish_reason chunk
    if not isinstance(content, str):
        raise StreamError("'delta.content' is not a string")
    return content


def completion_message(body: Any) -> str:
    """The answer of a non-streamed completion, from servers that ignore `stream: true`."""
    if not isinstance(body, dict):
        raise StreamError("the answer is not a JSON object")
    _raise_for_error(body)
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise StreamError("the answer has no choices[0].message.content") from None
    if not isinstance(content, str):
        raise StreamError("'message.content' is not a string")
    return content


def completion_usage(body: dict[str, Any]) -> Usage | None:
    """The token counts of a completion or of a chunk (`stream_options.include_usage`), if any.

    Counts that are missing or not whole numbers are not trusted: None.
    """
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not _count(prompt) or not _count(completion):
        return None
    return Usage(prompt_tokens=prompt, completion_tokens=completion)


def _count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _raise_for_error(chunk: dict[str, Any]) -> None:
    # Providers report failures mid-stream as {"error": {"message": ...}} with status 200.
    error = chunk.get("error")
    if error:
        message = error.get("message") if isinstance(error, dict) else error
        raise StreamError(f"the provider reported an error: {str(message)[:200]}")
