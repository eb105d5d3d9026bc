"""`GET /v1/models` and `POST /v1/chat/completions`, for any OpenAI client."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from chatbot.http.responses import json_response
from chatbot.http.routing import RouteTable
from chatbot.http.validation import read_json
from chatbot.openai_api.answer import Answer, start_answer
from chatbot.openai_api.catalog import readable_chatbots
from chatbot.openai_api.conversation import CONVERSATION_HEADER
from chatbot.openai_api.schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    CompletionUsage,
    Model,
    ModelList,
)
from chatbot.openai_api.stream import ChunkWriter, open_event_stream
from chatbot.storage.values import new_id

log = logging.getLogger(__name__)

TAG = "openai"


async def list_models(request: web.Request) -> web.Response:
    """The chatbots the caller may use, each as a model named by its slug."""
    chatbots = await readable_chatbots(request)
    models = [
        Model(id=c.slug, created=int(c.created_at.timestamp()), owned_by=c.workspace_id)
        for c in chatbots
    ]
    return json_response(ModelList(data=models))


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """The chatbot named by `model` answers the last user message, with its own brain.

    The call is stored as a conversation of the chatbot (channel `api`): its id comes back in
    the `X-Conversation-Id` header, which continues it when sent with a later call; so does
    the same `user`. With `stream`, the answer comes as server-sent events of
    `chat.completion.chunk` objects, ending with `data: [DONE]`.
    """
    body = await read_json(request, ChatCompletionRequest, strict=True)
    answer = await start_answer(request, body, named=request.headers.get(CONVERSATION_HEADER))
    completion_id = f"chatcmpl-{new_id().replace('-', '')}"
    created = int(time.time())
    if body.stream:
        include_usage = body.stream_options is not None and body.stream_options.include_usage
        return await _streamed(request, answer, completion_id, created, include_usage)
    async with answer:
        async for _ in answer.deltas():
            pass
    result = await answer.finish()
    completion = ChatCompletion(
        id=completion_id,
        created=created,
        model=answer.chatbot.slug,
        choices=[Choice(message=AssistantMessage(content=answer.text))],
        usage=CompletionUsage(**result.usage.as_json()),
        conversation_id=answer.conversation_id,
        conversation_status=result.status,
    )
    response = json_response(completion)
    response.headers[CONVERSATION_HEADER] = answer.conversation_id
    return response


async def _streamed(
    request: web.Request, answer: Answer, completion_id: str, created: int, include_usage: bool
) -> web.StreamResponse:
    response = await open_event_stream(request, {CONVERSATION_HEADER: answer.conversation_id})
    writer = ChunkWriter(response, completion_id, created, answer.chatbot.slug)
    try:
        async with answer:
            await writer.start()
            async for delta in answer.deltas():
                await writer.text(delta)
    except ConnectionError:
        # The caller went away: what was said so far is stored all the same.
        log.info("openai api: the client left during the answer in %s", answer.conversation_id)
        await answer.finish()
        return response
    result = await answer.finish()
    try:
        await writer.end(result.usage if include_usage else None)
        await response.write_eof()
    except ConnectionError:
        log.info("openai api: the client left before the end of %s", answer.conversation_id)
    return response


def add_openai_routes(routes: RouteTable) -> None:
    routes.add(
        "GET",
        "/v1/models",
        list_models,
        response=ModelList,
        summary="List the chatbots as models",
        tag=TAG,
    )
    routes.add(
        "POST",
        "/v1/chat/completions",
        chat_completions,
        body=ChatCompletionRequest,
        response=ChatCompletion,
        errors=(404, 503),
        summary="Answer with a chatbot (OpenAI chat completions)",
        tag=TAG,
        extra={
            "openapi": {
                "parameters": [
                    {
                        "name": CONVERSATION_HEADER,
                        "in": "header",
                        "required": False,
                        "description": "continue this API conversation of the model (the "
                        "header of an earlier answer)",
                        "schema": {"type": "string", "maxLength": 36},
                    }
                ]
            },
            "event_stream": ChatCompletionChunk,
            "response_headers": {
                CONVERSATION_HEADER: {
                    "description": "the conversation the call was stored in",
                    "schema": {"type": "string"},
                }
            },
        },
    )
