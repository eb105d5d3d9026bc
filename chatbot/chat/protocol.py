"""The chat WebSocket protocol: inbound frames parsed into typed objects, outbound frames encoded.

Pure code: no aiohttp, no database. Everything a client may send is checked here, so that the
socket handlers only ever see well-formed frames.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from chatbot.vocabulary import Role

MAX_CLIENT_ID_LENGTH = 128  # the messages.client_id column
MAX_IDENTIFY_BYTES = 8192  # what the widget allows for identify() data
MAX_TOKEN_LENGTH = 4096

ClientId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CLIENT_ID_LENGTH)]
ConversationId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Seq = Annotated[int, Field(ge=0, le=2**31 - 1)]
UserId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class FrameError(Exception):
    """A frame the server refuses; answered as `{"type": "error", "code", "message", ...}`."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = {key: value for key, value in details.items() if value is not None}

    def frame(self) -> bytes:
        return error_frame(self.code, self.message, **self.details)


class Frame(BaseModel):
    """An inbound frame; unknown extra fields are ignored so that clients can evolve."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


# Visitor frames.


class SendMessage(Frame):
    type: Literal["message"]
    text: str
    client_id: ClientId


class Resume(Frame):
    type: Literal["resume"]
    after: Seq


class Typing(Frame):
    type: Literal["typing"]


class Handoff(Frame):
    type: Literal["handoff"]


class Identify(Frame):
    type: Literal["identify"]
    data: dict[str, Any]


class Ping(Frame):
    type: Literal["ping"]


# Operator frames.


class Auth(Frame):
    type: Literal["auth"]
    token: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TOKEN_LENGTH)]


class OperatorMessage(Frame):
    type: Literal["message"]
    conversation_id: ConversationId
    text: str
    client_id: ClientId


class Takeover(Frame):
    type: Literal["takeover"]
    conversation_id: ConversationId


class Release(Frame):
    type: Literal["release"]
    conversation_id: ConversationId


class CloseConversation(Frame):
    type: Literal["close"]
    conversation_id: ConversationId


class Assign(Frame):
    type: Literal["assign"]
    conversation_id: ConversationId
    user_id: UserId | None  # required: null assigns nobody


class OperatorTyping(Frame):
    type: Literal["typing"]
    conversation_id: ConversationId


class OperatorResume(Frame):
    type: Literal["resume"]
    conversation_id: ConversationId
    after: Seq


VISITOR_FRAMES: Mapping[str, type[Frame]] = {
    "message": SendMessage,
    "resume": Resume,
    "typing": Typing,
    "handoff": Handoff,
    "identify": Identify,
    "ping": Ping,
}
OPERATOR_FRAMES: Mapping[str, type[Frame]] = {
    "auth": Auth,
    "message": OperatorMessage,
    "takeover": Takeover,
    "release": Release,
    "close": CloseConversation,
    "assign": Assign,
    "typing": OperatorTyping,
    "resume": OperatorResume,
    "ping": Ping,
}


def _describe(error: ValidationError) -> str:
    issues = []
    for issue in error.errors(include_url=False)[:3]:
        field = ".".join(str(part) for part in issue["loc"]) or "frame"
        issues.append(f"'{field}': {issue['msg']}")
    return "; ".join(issues)


def _storable(value: str) -> bool:
    """Text the databases accept: no NUL character and no lone UTF-16 surrogate."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_frame(raw: str, kinds: Mapping[str, type[Frame]], *, max_text_length: int) -> Frame:
    """Parse one text frame into the typed frame of its `type`, or raise FrameError."""
    try:
        # Strict JSON: no NaN or Infinity, no lone surrogate, nesting at most 1024 deep.
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise FrameError("invalid_message", "the frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise FrameError("invalid_message", 'a frame must be a JSON object like {"type": ...}')
    kind = data.get("type")
    client_id = data.get("client_id")
    if not isinstance(client_id, str) or len(client_id) > MAX_CLIENT_ID_LENGTH:
        client_id = None
    if not isinstance(kind, str):
        raise FrameError(
            "invalid_message", "the frame needs a string field 'type'", client_id=client_id
        )
    model = kinds.get(kind)
    if model is None:
        expected = ", ".join(sorted(kinds))
        raise FrameError(
            "invalid_message",
            f"unknown frame type {kind[:40]!r}; expected one of: {expected}",
            client_id=client_id,
        )
    try:
        frame = model.model_validate(data)
    except ValidationError as exc:
        raise FrameError(
            "invalid_message", f"invalid {kind!r} frame: {_describe(exc)}", client_id=client_id
        ) from None
    _check_content(frame, max_text_length, client_id)
    return frame


def _check_content(frame: Frame, max_text_length: int, client_id: str | None) -> None:
    if isinstance(frame, SendMessage | OperatorMessage):
        if not frame.text.strip():
            raise FrameError("invalid_message", "'text' is empty", client_id=client_id)
        if len(frame.text) > max_text_length:
            raise FrameError(
                "text_too_long",
                f"the text has {len(frame.text)} characters; at most {max_text_length} are allowed",
                client_id=client_id,
            )
        if not _storable(frame.text) or not _storable(frame.client_id):
            raise FrameError(
                "invalid_message",
                "'text' and 'client_id' must be valid Unicode without NUL characters",
                client_id=None,
            )
    elif isinstance(frame, Identify):
        try:
            encoded = orjson.dumps(frame.data)
        except orjson.JSONEncodeError:  # nested deeper than orjson writes (254 levels)
            raise FrameError("invalid_message", "'data' nests too deeply") from None
        if b"\\u0000" in encoded:
            raise FrameError("invalid_message", "'data' must not contain NUL characters")
        if len(encoded) > MAX_IDENTIFY_BYTES:
            raise FrameError(
                "invalid_message", f"'data' must encode to at most {MAX_IDENTIFY_BYTES} bytes"
            )


# Outbound frames: encoded to UTF-8 JSON bytes once, sent as text frames to every recipient.


def encode(data: Any) -> bytes:
    """Compact UTF-8 JSON; a lone surrogate is escaped rather than failing the frame."""
    try:
        return orjson.dumps(data)
    except TypeError:  # text from elsewhere (a brain, the database) with a lone surrogate
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "backslashreplace"
        )


def error_frame(code: str, message: str, **details: Any) -> bytes:
    return encode({"type": "error", "code": code, "message": message, **details})


def message_frame(message: Mapping[str, Any]) -> bytes:
    return encode({"type": "message", "message": message})


def welcome_frame(
    *,
    conversation_id: str,
    visitor_token: str,
    chatbot: Mapping[str, Any],
    last_seq: int,
    status: str,
    visitor_id: str,
    identified: bool = False,
) -> bytes:
    return encode(
        {
            "type": "welcome",
            "conversation_id": conversation_id,
            "visitor_token": visitor_token,
            "visitor_id": visitor_id,
            "chatbot": chatbot,
            "last_seq": last_seq,
            "status": status,
            "identified": identified,
        }
    )


def bot_token_frame(conversation_id: str, delta: str) -> bytes:
    return encode({"type": "bot_token", "delta": delta, "conversation_id": conversation_id})


def typing_frame(role: Role, conversation_id: str) -> bytes:
    return encode({"type": "typing", "role": role, "conversation_id": conversation_id})


def conversation_erased_frame(conversation_id: str) -> bytes:
    """To operators: the conversation's visitor data was erased (or it expired); drop it."""
    return encode({"type": "conversation_erased", "conversation_id": conversation_id})


def status_frame(conversation_id: str, status: str) -> bytes:
    return encode({"type": "status", "status": status, "conversation_id": conversation_id})


def conversation_frame(conversation: Mapping[str, Any]) -> bytes:
    return encode({"type": "conversation", "conversation": conversation})


def resumed_frame(last_seq: int, conversation_id: str | None = None) -> bytes:
    data: dict[str, Any] = {"type": "resumed", "last_seq": last_seq}
    if conversation_id is not None:
        data["conversation_id"] = conversation_id
    return encode(data)


def presence_frame(user_id: str, online: bool) -> bytes:
    return encode({"type": "presence", "user_id": user_id, "online": online})


def auth_ok_frame(user: Mapping[str, Any]) -> bytes:
    return encode({"type": "auth_ok", "user": user})


PONG_FRAME = encode({"type": "pong"})
RESYNCED_FRAME = encode({"type": "resynced"})
