"""`/v1/models` and `/v1/chat/completions` through the real app, on SQLite and on PostgreSQL
with Redis: answers from the chatbot's brain, the wire format of the stream, the conversation
each call is stored in (channel `api`), and OpenAI-shaped errors for every bad request."""

from __future__ import annotations

from typing import Any

import pytest
from api_support import bearer, create_chatbot, register
from openai_support import (
    OPENING_HOURS,
    Owner,
    ask,
    chunks_of,
    owner_with_knowledge_chatbot,
    sse_events,
)
from visitor_support import AGENT_PATH, operator_acts

from conftest import AppClient, ClientFactory

pytestmark = pytest.mark.both_stacks

FALLBACK = "Nobody here knows that; a person will help you."
WAITING = "A person has your message."


@pytest.fixture
async def api(make_client: ClientFactory) -> AppClient:
    return await make_client(
        brains={"semantic": False, "fallback_message": FALLBACK},
        openai_api={"waiting_message": WAITING, "max_messages": 20},
    )


@pytest.fixture
async def owner(api: AppClient) -> Owner:
    return await owner_with_knowledge_chatbot(api)


async def complete(api: AppClient, owner: Owner, body: dict[str, Any], **headers: str) -> Any:
    response = await api.post(
        "/v1/chat/completions", json=body, headers={**owner.headers, **headers}
    )
    answer = await response.json()
    assert response.status == 200, answer
    assert response.headers["X-Conversation-Id"] == answer["conversation_id"]
    return answer


async def messages_of(api: AppClient, owner: Owner, conversation_id: str) -> list[tuple[str, str]]:
    response = await api.get(
        f"/api/conversations/{conversation_id}/messages/", headers=owner.headers
    )
    body = await response.json()
    assert response.status == 200, body
    return [(message["role"], message["text"]) for message in body["items"]]


async def openai_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """OpenAI's error shape, which holds the contract's."""
    body = await response.json()
    assert response.status == status, body
    error: dict[str, Any] = body["error"]
    assert set(error) >= {"message", "type", "code", "param"}, error
    assert error["code"] == code, error
    assert error["message"]
    assert response.content_type == "application/json"
    return error


async def test_models_are_the_chatbots_the_caller_may_read(api: AppClient, owner: Owner) -> None:
    second = await create_chatbot(api, owner.headers, name="Second")
    stranger = await owner_with_knowledge_chatbot(api)

    for path in ("/v1/models", "/v1/models/"):
        response = await api.get(path, headers=owner.headers)
        body = await response.json()
        assert response.status == 200, body
        assert body["object"] == "list"
        assert [model["id"] for model in body["data"]] == [owner.slug, second["slug"]]
        for model in body["data"]:
            assert model["object"] == "model"
            assert isinstance(model["created"], int)
            assert model["created"] > 1_700_000_000
            assert isinstance(model["owned_by"], str)
            assert model["owned_by"]
    assert stranger.slug not in [model["id"] for model in body["data"]]


async def test_a_knowledge_answer_is_a_chat_completion_with_usage(
    api: AppClient, owner: Owner
) -> None:
    answer = await complete(api, owner, ask(owner.slug, "When are you open?"))

    assert answer["object"] == "chat.completion"
    assert answer["id"].startswith("chatcmpl-")
    assert answer["model"] == owner.slug
    [choice] = answer["choices"]
    assert choice["message"] == {"role": "assistant", "content": OPENING_HOURS, "refusal": None}
    assert choice["finish_reason"] == "stop"
    usage = answer["usage"]
    assert usage["prompt_tokens"] > 0
    assert usage["completion_tokens"] >= len(OPENING_HOURS.split())
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert answer["conversation_status"] == "bot"


async def test_the_stream_is_server_sent_events_word_by_word_ending_with_done(
    api: AppClient, owner: Owner
) -> None:
    body = ask(owner.slug, "When are you open?", stream=True)
    response = await api.post("/v1/chat/completions/", json=body, headers=owner.headers)
    raw = await response.read()

    assert response.status == 200, raw
    assert response.content_type == "text/event-stream"
    assert response.headers["X-Conversation-Id"]
    # The wire format, byte for byte at the edges: `data: ` lines, blank lines between.
    assert raw.startswith(b"data: {")
    assert raw.endswith(b"\n\ndata: [DONE]\n\n")
    chunks = chunks_of(raw)
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert all(chunk["model"] == owner.slug for chunk in chunks)
    first, *texts, last = chunks
    assert first["choices"][0]["delta"]["role"] == "assistant"
    deltas = [chunk["choices"][0]["delta"]["content"] for chunk in texts]
    assert "".join(deltas) == OPENING_HOURS
    assert deltas == [word + " " for word in OPENING_HOURS.split()[:-1]] + ["evening."]
    assert last["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": None}]
    assert "usage" not in last


async def test_a_stream_ends_with_usage_when_asked(api: AppClient, owner: Owner) -> None:
    body = ask(
        owner.slug, "When are you open?", stream=True, stream_options={"include_usage": True}
    )
    response = await api.post("/v1/chat/completions", json=body, headers=owner.headers)
    chunks = chunks_of(await response.read())

    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == []
    usage = usage_chunk["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


async def test_each_call_is_an_api_conversation_in_the_inbox(api: AppClient, owner: Owner) -> None:
    answer = await complete(api, owner, ask(owner.slug, "When are you open?"))

    response = await api.get(
        f"/api/chatbots/{owner.chatbot_id}/conversations/", headers=owner.headers
    )
    [conversation] = (await response.json())["items"]
    assert conversation["id"] == answer["conversation_id"]
    assert conversation["channel"] == "api"
    assert conversation["status"] == "bot"
    assert await messages_of(api, owner, answer["conversation_id"]) == [
        ("visitor", "When are you open?"),
        ("bot", OPENING_HOURS),
    ]


async def test_operators_see_the_call_live(api: AppClient, owner: Owner) -> None:
    async with api.ws_connect(AGENT_PATH, headers=owner.headers) as ws:
        assert (await ws.receive_json(timeout=10))["type"] == "auth_ok"
        answer = await complete(api, owner, ask(owner.slug, "When are you open?"))
        frames = [await ws.receive_json(timeout=10) for _ in range(3)]

    conversation, question, reply = frames
    assert conversation["type"] == "conversation"
    assert conversation["conversation"]["id"] == answer["conversation_id"]
    assert conversation["conversation"]["channel"] == "api"
    assert (question["message"]["role"], question["message"]["text"]) == (
        "visitor",
        "When are you open?",
    )
    assert (reply["message"]["role"], reply["message"]["text"]) == ("bot", OPENING_HOURS)


async def test_a_new_conversation_stores_the_earlier_turns_for_the_operators(
    api: AppClient, owner: Owner
) -> None:
    body = {
        "model": owner.slug,
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": [{"type": "text", "text": "Hi."}]},
            {"role": "assistant", "content": "Hi!"},
            {"role": "user", "content": "When are you open?"},
        ],
    }
    answer = await complete(api, owner, body)

    assert await messages_of(api, owner, answer["conversation_id"]) == [
        ("bot", "Hello! How can I help?"),
        ("visitor", "Hi."),
        ("bot", "Hi!"),
        ("visitor", "When are you open?"),
        ("bot", OPENING_HOURS),
    ]


async def test_the_conversation_header_continues_a_conversation(
    api: AppClient, owner: Owner
) -> None:
    first = await complete(api, owner, ask(owner.slug, "When are you open?"))
    conversation_id = first["conversation_id"]

    second = await complete(
        api,
        owner,
        {
            "model": owner.slug,
            "messages": [
                {"role": "user", "content": "When are you open?"},
                {"role": "assistant", "content": OPENING_HOURS},
                {"role": "user", "content": "How much does it cost?"},
            ],
        },
        **{"X-Conversation-Id": conversation_id},
    )

    assert second["conversation_id"] == conversation_id
    # Only the new question and its answer are added: the earlier turns are stored already.
    stored = await messages_of(api, owner, conversation_id)
    assert [text for _, text in stored][:3] == [
        "When are you open?",
        OPENING_HOURS,
        "How much does it cost?",
    ]
    assert len(stored) == 4


async def test_the_same_user_continues_one_conversation_per_chatbot(
    api: AppClient, owner: Owner
) -> None:
    first = await complete(api, owner, ask(owner.slug, "When are you open?", user="customer-7"))
    second = await complete(
        api, owner, ask(owner.slug, "How much does it cost?", user="customer-7")
    )
    other = await complete(api, owner, ask(owner.slug, "When are you open?", user="customer-8"))
    anonymous = await complete(api, owner, ask(owner.slug, "When are you open?"))

    assert first["conversation_id"] == second["conversation_id"]
    assert (
        len({first["conversation_id"], other["conversation_id"], anonymous["conversation_id"]}) == 3
    )
    assert len(await messages_of(api, owner, first["conversation_id"])) == 4


async def test_the_fallback_hands_off_and_a_person_then_answers_instead_of_the_bot(
    api: AppClient, owner: Owner
) -> None:
    unknown = ask(owner.slug, "Do you repair bicycles?", user="rider")
    answer = await complete(api, owner, unknown)
    conversation_id = answer["conversation_id"]
    assert answer["choices"][0]["message"]["content"] == FALLBACK
    assert answer["conversation_status"] == "waiting_for_human"

    await operator_acts(api, owner.headers, conversation_id, status="human", texts=("Yes we do!",))
    later = await complete(api, owner, ask(owner.slug, "When are you open?", user="rider"))

    # The bot is silent while a person handles the conversation: the caller is told so, and
    # the question waits for the person.
    assert later["choices"][0]["message"]["content"] == WAITING
    assert later["conversation_status"] == "human"
    assert await messages_of(api, owner, conversation_id) == [
        ("visitor", "Do you repair bicycles?"),
        ("bot", FALLBACK),
        ("operator", "Yes we do!"),
        ("visitor", "When are you open?"),
    ]


async def test_a_closed_conversation_reopens_with_a_new_question(
    api: AppClient, owner: Owner
) -> None:
    first = await complete(api, owner, ask(owner.slug, "When are you open?", user="u1"))
    await operator_acts(api, owner.headers, first["conversation_id"], status="closed")

    again = await complete(api, owner, ask(owner.slug, "When are you open?", user="u1"))

    assert again["conversation_id"] == first["conversation_id"]
    assert again["conversation_status"] == "bot"
    assert again["choices"][0]["message"]["content"] == OPENING_HOURS


async def test_an_echo_chatbot_streams_the_question_back_word_by_word(api: AppClient) -> None:
    headers = bearer((await register(api))["access"])
    chatbot = await create_chatbot(api, headers, name="Echo", brain={"type": "echo"})
    body = ask(chatbot["slug"], "  one two  three ", stream=True)
    response = await api.post("/v1/chat/completions", json=body, headers=headers)
    chunks = chunks_of(await response.read())
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]] == [
        "one ",
        "two  ",
        "three",
    ]


# ---- errors -------------------------------------------------------------------------------------


async def test_unknown_and_foreign_models_answer_model_not_found(
    api: AppClient, owner: Owner
) -> None:
    stranger = await owner_with_knowledge_chatbot(api)
    for model in ("no-such-chatbot", stranger.slug, "x" * 200, "../etc"):
        response = await api.post(
            "/v1/chat/completions", json=ask(model, "Hello"), headers=owner.headers
        )
        error = await openai_error(response, 404, "model_not_found")
        assert error["type"] == "invalid_request_error"
        assert error["param"] == "model"
    # Nothing was stored for the refused calls.
    response = await api.get(
        f"/api/chatbots/{stranger.chatbot_id}/conversations/", headers=stranger.headers
    )
    assert (await response.json())["items"] == []


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "not_authenticated"),
        ({"Authorization": "Bearer not-a-token"}, "invalid_token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "invalid_authorization_header"),
    ],
)
async def test_a_missing_or_bad_key_answers_401(
    api: AppClient, owner: Owner, headers: dict[str, str], code: str
) -> None:
    for method, path, body in (
        ("GET", "/v1/models", None),
        ("POST", "/v1/chat/completions", ask(owner.slug, "Hello")),
    ):
        response = await api.request(method, path, json=body, headers=headers)
        error = await openai_error(response, 401, code if headers else "not_authenticated")
        assert error["type"] == "authentication_error"


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        (b"", 400, "invalid_json", None),
        (b"{not json", 400, "invalid_json", None),
        (b"[1, 2]", 422, "validation_error", "body"),
        (b'"text"', 422, "validation_error", "body"),
        (b"{}", 422, "validation_error", "model"),
        (b'{"model": "acme-help"}', 422, "validation_error", "messages"),
        (
            b'{"model": 7, "messages": [{"role": "user", "content": "hi"}]}',
            422,
            "validation_error",
            "model",
        ),
        (
            b'{"model": "", "messages": [{"role": "user", "content": "hi"}]}',
            422,
            "validation_error",
            "model",
        ),
        (b'{"model": "acme-help", "messages": []}', 422, "validation_error", "messages"),
        (b'{"model": "acme-help", "messages": "hi"}', 422, "validation_error", "messages"),
        (
            b'{"model": "acme-help", "messages": [{"content": "hi"}]}',
            422,
            "validation_error",
            "messages.0.role",
        ),
        (
            b'{"model": "acme-help", "messages": [{"role": "robot", "content": "hi"}]}',
            422,
            "validation_error",
            "messages.0.role",
        ),
        (
            b'{"model": "acme-help", "messages": [{"role": "user", "content": 5}]}',
            422,
            "validation_error",
            "messages.0.content.str",
        ),
        (
            b'{"model": "acme-help", "messages": [{"role": "user", "content": '
            b'[{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]}',
            422,
            "validation_error",
            "messages.0.content.str",
        ),
        (
            b'{"model": "acme-help", "messages": [{"role": "user", "content": "hi"}], '
            b'"stream": "yes"}',
            422,
            "validation_error",
            "stream",
        ),
        (
            b'{"model": "acme-help", "messages": [{"role": "user", "content": "hi"}], "n": 2}',
            422,
            "validation_error",
            "n",
        ),
        (
            b'{"model": "acme-help", "messages": [{"role": "user", "content": "hi"}], '
            b'"temperature": 3}',
            422,
            "validation_error",
            "temperature",
        ),
        (
            b'{"model": "acme-help", "messages": [{"role": "user", "content": "hi"}], "user": ""}',
            422,
            "validation_error",
            "user",
        ),
    ],
)
async def test_bad_bodies_answer_openai_shaped_400_or_422(
    api: AppClient, owner: Owner, body: bytes, status: int, code: str, param: str | None
) -> None:
    body = body.replace(b"acme-help", owner.slug.encode())
    response = await api.post(
        "/v1/chat/completions",
        data=body,
        headers={**owner.headers, "Content-Type": "application/json"},
    )
    error = await openai_error(response, status, code)
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("messages", "code", "param"),
    [
        ([{"role": "system", "content": "Be nice."}], "validation_error", "messages"),
        ([{"role": "assistant", "content": "Hi!"}], "validation_error", "messages"),
        ([{"role": "user", "content": "   "}], "validation_error", "messages.0.content"),
        ([{"role": "user", "content": None}], "validation_error", "messages.0.content"),
        ([{"role": "user", "content": "x" * 4001}], "text_too_long", "messages.0.content"),
        ([{"role": "user", "content": "hi"}] * 21, "validation_error", "messages"),
    ],
)
async def test_messages_without_a_question_answer_422(
    api: AppClient, owner: Owner, messages: list[dict[str, Any]], code: str, param: str
) -> None:
    body = {"model": owner.slug, "messages": messages}
    response = await api.post("/v1/chat/completions", json=body, headers=owner.headers)
    error = await openai_error(response, 422, code)
    assert error["param"] == param
    response = await api.get(
        f"/api/chatbots/{owner.chatbot_id}/conversations/", headers=owner.headers
    )
    assert (await response.json())["items"] == []


async def test_an_unknown_conversation_header_answers_404(api: AppClient, owner: Owner) -> None:
    stranger = await owner_with_knowledge_chatbot(api)
    theirs = await complete(api, stranger, ask(stranger.slug, "When are you open?"))
    for named in ("no-such-conversation", theirs["conversation_id"], "x" * 300):
        response = await api.post(
            "/v1/chat/completions",
            json=ask(owner.slug, "Hello"),
            headers={**owner.headers, "X-Conversation-Id": named},
        )
        error = await openai_error(response, 404, "conversation_not_found")
        assert error["param"] == "X-Conversation-Id"


async def test_other_methods_and_paths_under_v1_answer_openai_shaped_errors(
    api: AppClient, owner: Owner
) -> None:
    response = await api.get("/v1/chat/completions", headers=owner.headers)
    assert (await openai_error(response, 405, "method_not_allowed"))["param"] is None
    response = await api.post("/v1/models", headers=owner.headers)
    await openai_error(response, 405, "method_not_allowed")
    response = await api.get("/v1/embeddings", headers=owner.headers)
    await openai_error(response, 404, "not_found")
    # Other paths keep the contract's shape.
    response = await api.get("/api/nothing-here/", headers=owner.headers)
    assert set((await response.json())["error"]) == {"code", "message"}


async def test_a_body_over_the_size_limit_answers_413(make_client: ClientFactory) -> None:
    api = await make_client(max_body_bytes=4096)
    owner = await owner_with_knowledge_chatbot(api)
    body = ask(owner.slug, "x" * 5000)
    response = await api.post("/v1/chat/completions", json=body, headers=owner.headers)
    await openai_error(response, 413, "payload_too_large")


async def test_too_many_requests_answer_429_with_retry_after(make_client: ClientFactory) -> None:
    api = await make_client(brains={"semantic": False}, rate_limits={"per_address": "8/minute"})
    owner = await owner_with_knowledge_chatbot(api)  # 4 requests
    statuses = []
    for _ in range(6):
        response = await api.post(
            "/v1/chat/completions",
            json=ask(owner.slug, "When are you open?"),
            headers=owner.headers,
        )
        statuses.append(response.status)
        if response.status == 429:
            error = await openai_error(response, 429, "rate_limited")
            assert error["type"] == "rate_limit_error"
            assert int(response.headers["Retry-After"]) > 0
    assert statuses[-1] == 429
    assert 200 in statuses


def test_the_sse_reader_used_here_parses_by_the_rules() -> None:
    assert sse_events(b"data: a\n\ndata: b\ndata: c\n\n") == ["a", "b\nc"]
