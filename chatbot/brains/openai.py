"""The OpenAI-compatible brain: streams `/v1/chat/completions` answers from any such server.

Every failure (no connection, timeouts, HTTP errors, garbled streams, provider errors) ends in
the fallback message with a handoff; nothing raises into the conversation. When part of the
answer was already streamed, it stays, and the fallback follows as its own paragraph: the
visitor saw those words already, and a cut-off answer needs saying so.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
from pydantic import ValidationError

from chatbot.brains.base import (
    ANSWERED,
    BrainEvent,
    BrainReply,
    BrainRequest,
    Turn,
    Usage,
    Verdict,
    fallback_delta,
)
from chatbot.brains.schemas import OpenAIBrainConfig, parse_brain_config
from chatbot.brains.sse import (
    SseDecoder,
    StreamError,
    chunk_text,
    completion_chunk,
    completion_message,
    completion_usage,
)

log = logging.getLogger(__name__)

DEFAULT_SYSTEM_PROMPT = (
    "You are the assistant of the website chatbot “{name}”. Answer the visitor's questions "
    "briefly and politely, in the visitor's language. When you do not know the answer, say so "
    "and suggest talking to a person; never make up facts, prices or promises."
)
CONTEXT_INTRO = "Passages from the knowledge base that may help (use them when relevant):"
CONTEXT_MIN_CONFIDENCE = 0.2
MAX_CONTEXT_CHARS = 1_500  # per passage
MAX_TURN_CHARS = 4_000
MAX_ANSWER_CHARS = 16_000  # a runaway provider is cut off here
MAX_ERROR_BODY = 300


class ProviderError(Exception):
    """The provider could not give an answer; `reason` is a short code for logs and metrics."""

    def __init__(self, reason: str, detail: str, status: int | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.status = status


class OpenAIBrain:
    """Answers through an OpenAI-compatible server, using one shared aiohttp ClientSession."""

    def __init__(
        self,
        http: aiohttp.ClientSession | None,
        *,
        fallback_message: str,
        timeout_seconds: float = 30.0,
        connect_timeout_seconds: float = 10.0,
        read_timeout_seconds: float | None = None,
        history_turns: int = 12,
    ) -> None:
        self._http = http
        self._fallback_message = fallback_message
        # total bounds the whole answer; sock_read bounds the silence between two chunks.
        self._timeout = aiohttp.ClientTimeout(
            total=timeout_seconds,
            sock_connect=min(connect_timeout_seconds, timeout_seconds),
            sock_read=read_timeout_seconds or min(20.0, timeout_seconds),
        )
        self._history_turns = history_turns

    def reply(self, request: BrainRequest) -> BrainReply:
        return BrainReply(self._events(request), fallback_message=self._fallback_message)

    async def _events(self, request: BrainRequest) -> AsyncIterator[BrainEvent]:
        try:
            config = parse_brain_config(request.config)
        except ValidationError as exc:
            log.warning("openai brain of %r has an invalid setting: %s", request.chatbot_name, exc)
            config = None
        if not isinstance(config, OpenAIBrainConfig) or self._http is None:
            yield self._fallback_message
            yield Verdict(handoff=True, reason="not_configured")
            return
        fallback = config.fallback_message or self._fallback_message
        messages = await self._messages(request, config)
        answer = ""
        include_usage = True
        try:
            while True:
                try:
                    async for event in self._complete(self._http, config, messages, include_usage):
                        if isinstance(event, str):
                            answer += event
                        yield event
                    break
                except ProviderError as exc:
                    # A server that refuses `stream_options` (older or strict ones) answers
                    # 400 before any text: asked again without it, it answers, uncounted.
                    if not (include_usage and exc.status == 400 and not answer):
                        raise
                    include_usage = False
        except ProviderError as exc:
            log.warning(
                "chat completion for %r from %s failed: %s",
                request.chatbot_name,
                config.completions_url,
                exc,
            )
            yield fallback_delta(answer, fallback)
            yield Verdict(handoff=True, reason=exc.reason)
            return
        if not answer.strip():
            yield fallback
            yield Verdict(handoff=True, reason="empty_answer")
            return
        yield ANSWERED

    async def _messages(
        self, request: BrainRequest, config: OpenAIBrainConfig
    ) -> list[dict[str, str]]:
        system = config.system_prompt or DEFAULT_SYSTEM_PROMPT.format(name=request.chatbot_name)
        if request.knowledge is not None and len(request.knowledge) and config.context_passages:
            matches = await request.knowledge.asearch(request.question, config.context_passages)
            passages = [
                f"[{number}] {match.passage.title}\n{match.passage.reply_text[:MAX_CONTEXT_CHARS]}"
                for number, match in enumerate(matches, start=1)
                if match.confidence >= CONTEXT_MIN_CONFIDENCE
            ]
            if passages:
                system = "\n\n".join([system, CONTEXT_INTRO, *passages])
        history = request.history[-self._history_turns :] if self._history_turns else ()
        return [{"role": "system", "content": system}, *chat_messages(history, request.question)]

    async def _complete(
        self,
        http: aiohttp.ClientSession,
        config: OpenAIBrainConfig,
        messages: list[dict[str, str]],
        include_usage: bool,
    ) -> AsyncIterator[str | Usage]:
        body: dict[str, Any] = {"model": config.model, "messages": messages, "stream": True}
        if include_usage:
            body["stream_options"] = {"include_usage": True}
        if config.temperature is not None:
            body["temperature"] = config.temperature
        if config.max_tokens is not None:
            body["max_tokens"] = config.max_tokens
        headers = {"Accept": "text/event-stream"}
        if config.api_key is not None:
            headers["Authorization"] = f"Bearer {config.api_key.get_secret_value()}"
        try:
            # A redirect could lead anywhere, past the address check of base_url: never follow.
            async with http.post(
                config.completions_url,
                json=body,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                if 300 <= response.status < 400:
                    raise ProviderError(
                        "redirect",
                        f"HTTP {response.status} to {response.headers.get('Location')!r}: "
                        "redirects are not followed; set base_url to the final address",
                    )
                if response.status != 200:
                    detail = await response.content.read(MAX_ERROR_BODY)
                    raise ProviderError(
                        "http_error",
                        f"HTTP {response.status}: {detail.decode(errors='replace')!r}",
                        response.status,
                    )
                if response.content_type == "application/json":
                    whole = await response.json()
                    yield completion_message(whole)
                    if isinstance(whole, dict) and (usage := completion_usage(whole)):
                        yield usage
                    return
                async for delta in _stream_deltas(response):
                    yield delta
        except TimeoutError:
            raise ProviderError("timeout", "no answer in time") from None
        except StreamError as exc:
            raise ProviderError("bad_stream", str(exc)) from None
        except (aiohttp.ClientError, UnicodeDecodeError, ValueError) as exc:
            # ValueError also covers lines longer than aiohttp's read buffer.
            raise ProviderError("connection_error", f"{type(exc).__name__}: {exc}") from None


async def _stream_deltas(response: aiohttp.ClientResponse) -> AsyncIterator[str | Usage]:
    decoder = SseDecoder()
    length = 0
    async for raw in response.content:
        data = decoder.feed(raw.decode("utf-8"))
        if data is None:
            continue
        chunk = completion_chunk(data)
        if chunk is None:
            return
        delta = chunk_text(chunk)
        length += len(delta)
        if length > MAX_ANSWER_CHARS:
            return
        if delta:
            yield delta
        # With `include_usage`, the counts come in a last chunk of their own, before [DONE].
        if (usage := completion_usage(chunk)) is not None:
            yield usage
    # Some servers close without `[DONE]`: what arrived is the answer.
    data = decoder.flush()
    if data is not None and (chunk := completion_chunk(data)) is not None:
        if delta := chunk_text(chunk):
            yield delta
        if (usage := completion_usage(chunk)) is not None:
            yield usage


def chat_messages(history: Sequence[Turn], question: str) -> list[dict[str, str]]:
    """The conversation as chat messages: visitor turns are the user's, bot and operator ones
    the assistant's, with consecutive turns of one side merged (some servers insist on
    alternation)."""
    messages: list[dict[str, str]] = []
    turns = [*((_ROLES[turn.role], turn.text) for turn in history), ("user", question)]
    for role, text in turns:
        text = text[:MAX_TURN_CHARS]
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"] += f"\n\n{text}"
        else:
            messages.append({"role": role, "content": text})
    return messages


_ROLES = {"visitor": "user", "bot": "assistant", "operator": "assistant"}
