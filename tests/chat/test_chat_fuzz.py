"""Generated frames for both sockets: every one is answered (an error frame at worst), nothing
is an internal error, the socket stays open, and a valid frame still works afterwards."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType
from chat_helpers import create_chatbot, frame_of_type, next_frame, register, visitor_path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ClientFactory

AGENT = "/ws/chat/agent/"
# Small enough for every CI run, and the same examples each time.
FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# What a server frame may be, and the error codes bad input may get (never internal_error).
SERVER_FRAMES = {"message", "bot_token", "typing", "status", "resumed", "pong", "error"}
OPERATOR_FRAMES = SERVER_FRAMES | {"conversation"}
INPUT_ERRORS = {"invalid_message", "text_too_long", "rate_limited", "not_found"}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
frame_types = st.sampled_from(
    ["message", "resume", "typing", "handoff", "identify", "ping", "auth", "takeover", "release",
     "close", "shout", "", "MESSAGE", "message\x00"]
)  # fmt: skip
fields = st.fixed_dictionaries(
    {"type": frame_types | json_values},
    optional={
        "text": json_values | st.text(min_size=1, max_size=5000),
        "client_id": json_values | st.text(min_size=1, max_size=200),
        "after": json_values | st.integers(min_value=-5, max_value=2**40),
        "data": json_values,
        "conversation_id": json_values | st.text(max_size=80),
        "token": json_values,
    },
)
deep = st.integers(min_value=1, max_value=5000).map(lambda depth: "[" * depth + "]" * depth)
raw_frames = st.one_of(
    fields.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=200),
    deep,
)


async def _exchange(ws: ClientWebSocketResponse, frames: list[str], allowed: set[str]) -> None:
    """Send the frames, then a ping; every frame up to its pong must be allowed."""
    for raw in frames:
        await ws.send_str(raw)
    await ws.send_json({"type": "ping"})
    while True:
        message = await ws.receive(timeout=15)
        assert message.type is WSMsgType.TEXT, f"the socket ended: {message} after {frames!r}"
        frame: dict[str, Any] = json.loads(message.data)
        assert frame.get("type") in allowed, frame
        if frame["type"] == "error":
            assert frame["code"] in INPUT_ERRORS, (frame, frames)
        if frame["type"] == "pong":
            return


@pytest.fixture
async def fuzz_client(make_client: ClientFactory) -> Any:
    # No rate limits, and frame budgets no fuzzing exhausts: every frame reaches its handler.
    return await make_client(
        rate_limits={"enabled": False},
        chat={
            "visitor_frames_per_second": 1e6,
            "visitor_frame_burst": 1e6,
            "operator_frames_per_second": 1e6,
            "operator_frame_burst": 1e6,
        },
    )


@pytest.fixture
async def visitor(fuzz_client: Any) -> AsyncIterator[ClientWebSocketResponse]:
    tenant = await register(fuzz_client)
    chatbot = await create_chatbot(fuzz_client, tenant, greeting="")
    async with fuzz_client.ws_connect(visitor_path(chatbot["slug"])) as ws:
        await next_frame(ws)
        yield ws


@pytest.fixture
async def operator(fuzz_client: Any) -> AsyncIterator[ClientWebSocketResponse]:
    tenant = await register(fuzz_client)
    async with fuzz_client.ws_connect(AGENT, headers=tenant.headers) as ws:
        await frame_of_type(ws, "auth_ok")
        yield ws


@FUZZ
@given(frames=st.lists(raw_frames, min_size=1, max_size=6))
async def test_generated_frames_never_break_a_visitor_socket(
    visitor: ClientWebSocketResponse, frames: list[str]
) -> None:
    await _exchange(visitor, frames, SERVER_FRAMES)


@FUZZ
@given(frames=st.lists(raw_frames, min_size=1, max_size=6))
async def test_generated_frames_never_break_an_operator_socket(
    operator: ClientWebSocketResponse, frames: list[str]
) -> None:
    await _exchange(operator, frames, OPERATOR_FRAMES)
