"""Request and response bodies of `/v1/`, in OpenAI's chat completions format."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from chatbot.fields.types import JSON_INTEGER
from chatbot.vocabulary import Status

MAX_MODEL_LENGTH = 200
MAX_USER_LENGTH = 256

# An integer as JSON Schema counts them: 5.0 is one.
JsonInt = Annotated[int, JSON_INTEGER]
PositiveInt = Annotated[int, Field(ge=1), JSON_INTEGER]
OnlyOne = Annotated[int, Field(ge=1, le=1), JSON_INTEGER]

MessageRole = Literal["system", "developer", "user", "assistant", "tool", "function"]


class _Lenient(BaseModel):
    # OpenAI clients send many optional fields (tools, logprobs, metadata...); the ones a
    # chatbot has no use for are accepted and ignored, as other compatible servers do.
    model_config = ConfigDict(extra="ignore")


class TextPart(_Lenient):
    """One part of a message's content; only text parts are understood."""

    type: Literal["text"]
    text: str


class ChatMessage(_Lenient):
    role: MessageRole
    content: str | list[TextPart] | None = Field(
        default=None, description="text, or a list of text parts (joined)"
    )
    name: str | None = None

    @property
    def text(self) -> str:
        """The content as one text ("" for none)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(_Lenient):
    include_usage: bool = Field(
        default=False, description="send a last chunk with `usage` and no choices"
    )


class ChatCompletionRequest(_Lenient):
    """`POST /v1/chat/completions`: the chatbot named `model` answers the last user message."""

    model: str = Field(min_length=1, max_length=MAX_MODEL_LENGTH, description="a chatbot's slug")
    messages: list[ChatMessage] = Field(
        min_length=1,
        max_length=10_000,
        description="the conversation, oldest first; the last `user` message is answered, the "
        "`user` and `assistant` messages before it are its history (`system` and `developer` "
        "messages are ignored: the chatbot's own settings decide how it answers)",
    )
    stream: bool | None = Field(default=False, description="answer as server-sent events")
    stream_options: StreamOptions | None = None
    user: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_USER_LENGTH,
        description="your end user's id: calls naming the same user on one chatbot continue "
        "that user's conversation",
    )
    n: OnlyOne | None = Field(default=None, description="only one choice is answered")
    # Accepted for compatibility and ignored: the chatbot's brain settings decide these.
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: PositiveInt | None = None
    max_completion_tokens: PositiveInt | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    seed: JsonInt | None = None
    stop: str | list[str] | None = None


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: None = None


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class ChatCompletion(BaseModel):
    """A whole answer (`stream` false)."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage
    system_fingerprint: None = None
    conversation_id: str = Field(
        description="the conversation this call was stored in (also the X-Conversation-Id "
        "header); send it back in that header to continue it"
    )
    conversation_status: Status = Field(
        description="its status after the answer: `waiting_for_human` once the bot handed off"
    )


class ChunkDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: ChunkDelta
    finish_reason: Literal["stop"] | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    """One server-sent event's data when `stream` is true."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: CompletionUsage | None = None


class Model(BaseModel):
    id: str = Field(description="the chatbot's slug")
    object: Literal["model"] = "model"
    created: int = Field(description="when the chatbot was created (Unix seconds)")
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]
