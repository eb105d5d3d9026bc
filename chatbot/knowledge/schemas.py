"""Request and response bodies of the knowledge routes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from chatbot.fields.types import NOT_NULL, Text, omitted

MAX_QUESTION_LENGTH = 1_000
MAX_ANSWER_LENGTH = 20_000
MAX_TITLE_LENGTH = 300
MAX_CONTENT_LENGTH = 500_000

# Lengths count the text as sent; it is stored stripped (see chatbot.fields.types.Text).
Question = Annotated[str, StringConstraints(min_length=1, max_length=MAX_QUESTION_LENGTH), Text()]
Answer = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ANSWER_LENGTH), Text()]
Title = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TITLE_LENGTH), Text()]
Content = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CONTENT_LENGTH), Text()]

_PAIR = frozenset({"question", "answer"})
_DOCUMENT = frozenset({"title", "content"})
_EITHER = 'send {"question", "answer"} for a pair or {"title", "content"} for a document'


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KnowledgePair(_Body):
    """A question and its answer."""

    question: Question
    answer: Answer


class KnowledgeDocument(_Body):
    """A titled text."""

    title: Title
    content: Content


class PairChanges(_Body):
    """The parts of a pair to change (at least one)."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    question: Annotated[Question | None, NOT_NULL] = omitted()
    answer: Annotated[Answer | None, NOT_NULL] = omitted()


class DocumentChanges(_Body):
    """The parts of a document to change (at least one)."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    title: Annotated[Title | None, NOT_NULL] = omitted()
    content: Annotated[Content | None, NOT_NULL] = omitted()


def _one_of(description: str, *models: type[BaseModel]) -> JsonSchemaValue:
    # Each branch is small and self-contained (no nested models), so it is written inline.
    return {"description": description, "oneOf": [model.model_json_schema() for model in models]}


class KnowledgeCreate(_Body):
    """A question/answer pair or a document; which one is told by the fields sent.

    Validated as one model so that errors name the fields; documented as what it is, exactly
    one of `KnowledgePair` and `KnowledgeDocument`.
    """

    question: Annotated[Question | None, NOT_NULL] = omitted()
    answer: Annotated[Answer | None, NOT_NULL] = omitted()
    title: Annotated[Title | None, NOT_NULL] = omitted()
    content: Annotated[Content | None, NOT_NULL] = omitted()

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: CoreSchema, handler: Any) -> JsonSchemaValue:
        return _one_of("A question/answer pair or a document.", KnowledgePair, KnowledgeDocument)

    @model_validator(mode="after")
    def _one_kind(self) -> KnowledgeCreate:
        sent = self.model_fields_set
        for fields, what in ((_PAIR, "a question/answer pair"), (_DOCUMENT, "a document")):
            if sent and sent < fields:
                [missing] = fields - sent
                raise ValueError(f"{what} needs both fields: add {missing!r}")
        if sent not in (_PAIR, _DOCUMENT):
            raise ValueError(_EITHER)
        return self

    @property
    def kind(self) -> Literal["qa", "document"]:
        return "qa" if self.question is not None else "document"


class KnowledgeUpdate(_Body):
    """The fields of the entry's own kind to change; the others stay."""

    question: Annotated[Question | None, NOT_NULL] = omitted()
    answer: Annotated[Answer | None, NOT_NULL] = omitted()
    title: Annotated[Title | None, NOT_NULL] = omitted()
    content: Annotated[Content | None, NOT_NULL] = omitted()

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: CoreSchema, handler: Any) -> JsonSchemaValue:
        return _one_of(
            "Some fields of a pair, or some of a document: those of the entry's own kind.",
            PairChanges,
            DocumentChanges,
        )

    @model_validator(mode="after")
    def _one_kind(self) -> KnowledgeUpdate:
        sent = self.model_fields_set
        if not sent:
            raise ValueError("send at least one of question, answer, title, content")
        if not (sent <= _PAIR or sent <= _DOCUMENT):
            raise ValueError(
                "send the fields of one kind: question and/or answer for a pair, "
                "title and/or content for a document"
            )
        return self

    @property
    def kind(self) -> Literal["qa", "document"]:
        return "qa" if self.model_fields_set <= _PAIR else "document"

    def changes(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class KnowledgeEntryOut(BaseModel):
    """A knowledge entry: a pair (question, answer) or a document (title, content)."""

    id: str
    chatbot_id: str
    kind: Literal["qa", "document"]
    question: str | None
    answer: str | None
    title: str | None
    content: str | None
    source: str | None = Field(description="the uploaded file it came from, if any")
    passages: int = Field(description="how many passages the knowledge brain searches")
    created_at: str
    updated_at: str


class KnowledgeList(BaseModel):
    items: list[KnowledgeEntryOut]


class QuestionProbe(_Body):
    """`POST /api/chatbots/{id}/knowledge/test/`."""

    question: Question


class ProbeMatch(BaseModel):
    entry_id: str
    kind: Literal["qa", "document"]
    question: str | None
    title: str | None
    passage: str
    reply: str
    score: float


class ProbeResult(BaseModel):
    """What the knowledge brain would answer, and how sure it is."""

    question: str
    answered: bool = Field(description="the best score reaches the threshold")
    threshold: float
    reply: str = Field(description="the reply the bot would send (the fallback when unsure)")
    match: ProbeMatch | None
    candidates: list[ProbeMatch]
