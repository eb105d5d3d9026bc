"""Frame parsing and encoding: pure functions, no server."""

from __future__ import annotations

import json

import pytest

from chatbot.chat.protocol import (
    OPERATOR_FRAMES,
    VISITOR_FRAMES,
    FrameError,
    Identify,
    OperatorMessage,
    Resume,
    SendMessage,
    encode,
    error_frame,
    parse_frame,
)


def visitor(raw: str, max_text_length: int = 4000) -> object:
    return parse_frame(raw, VISITOR_FRAMES, max_text_length=max_text_length)


def test_a_message_frame_becomes_a_typed_message() -> None:
    frame = visitor('{"type": "message", "text": "hi", "client_id": "c1", "extra": 1}')

    assert frame == SendMessage(type="message", text="hi", client_id="c1")


def test_resume_and_identify_frames_are_typed() -> None:
    assert visitor('{"type": "resume", "after": 3}') == Resume(type="resume", after=3)
    identify = visitor('{"type": "identify", "data": {"plan": "pro"}}')
    assert isinstance(identify, Identify)
    assert identify.data == {"plan": "pro"}


def test_operator_frames_need_their_conversation() -> None:
    frame = parse_frame(
        '{"type": "message", "conversation_id": "k", "text": "t", "client_id": "c"}',
        OPERATOR_FRAMES,
        max_text_length=10,
    )
    assert isinstance(frame, OperatorMessage)
    with pytest.raises(FrameError) as error:
        parse_frame('{"type": "takeover"}', OPERATOR_FRAMES, max_text_length=10)
    assert "conversation_id" in error.value.message


def test_an_unknown_type_lists_the_known_ones() -> None:
    with pytest.raises(FrameError) as error:
        visitor('{"type": "dance"}')

    assert error.value.code == "invalid_message"
    assert "handoff" in error.value.message
    assert "message" in error.value.message


def test_the_text_limit_counts_characters_not_bytes() -> None:
    assert isinstance(
        visitor(json.dumps({"type": "message", "text": "é" * 5, "client_id": "c"}), 5), SendMessage
    )
    with pytest.raises(FrameError) as error:
        visitor(json.dumps({"type": "message", "text": "é" * 6, "client_id": "c"}), 5)
    assert error.value.code == "text_too_long"
    assert error.value.details == {"client_id": "c"}


def test_types_are_strict() -> None:
    for raw in (
        '{"type": "resume", "after": "1"}',
        '{"type": "resume", "after": 1.5}',
        '{"type": "resume", "after": false}',
        '{"type": "message", "text": ["a"], "client_id": "c"}',
    ):
        with pytest.raises(FrameError):
            visitor(raw)


def test_error_frames_carry_details_and_encode_compactly() -> None:
    frame = json.loads(FrameError("rate_limited", "slow down", retry_after=3).frame())

    assert frame == {
        "type": "error",
        "code": "rate_limited",
        "message": "slow down",
        "retry_after": 3,
    }
    assert error_frame("x", "y") == b'{"type":"error","code":"x","message":"y"}'


def test_encoding_keeps_unicode_and_survives_a_lone_surrogate() -> None:
    assert encode({"text": "héllo 👋"}).decode() == '{"text":"héllo 👋"}'
    assert json.loads(encode({"text": "a\ud800"}))["text"].startswith("a")


@pytest.mark.parametrize("depth", [300, 5_000])
def test_deeply_nested_frames_are_invalid_messages(depth: int) -> None:
    nested = "[" * depth + "]" * depth
    for raw in (nested, f'{{"type": "identify", "data": {{"a": {nested}}}}}'):
        with pytest.raises(FrameError) as error:
            visitor(raw)
        assert error.value.code == "invalid_message"
