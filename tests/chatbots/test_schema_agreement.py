"""The OpenAPI document states exactly the rules the API enforces.

Every body its schemas allow is accepted and every body they forbid is refused: checked here
field by field with generated values (well-formed ones drawn from the documented patterns,
and near misses), judged by a JSON Schema validator on one side and by the models the routes
validate with on the other.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from chatbot.brains.schemas import BASE_URL_PATTERN
from chatbot.chatbots.origins import ORIGIN_SCHEMA_PATTERN
from chatbot.chatbots.routes import add_chatbot_routes
from chatbot.chatbots.schemas import (
    AVATAR_PATTERN,
    COLOUR_PATTERN,
    ChatbotCreate,
    ChatbotUpdate,
)
from chatbot.chatbots.slugs import SLUG_REGEX
from chatbot.conversations.routes import add_conversation_routes
from chatbot.conversations.schemas import InboxQuery
from chatbot.errors import ValidationFailed
from chatbot.fields.types import NOT_BLANK_PATTERN, WHITESPACE
from chatbot.http.routing import RouteTable
from chatbot.http.validation import validate
from chatbot.knowledge.routes import add_knowledge_routes
from chatbot.knowledge.schemas import KnowledgeCreate, KnowledgeUpdate
from chatbot.knowledge.uploads import MULTIPART_BODY, UploadedFile, typed_text
from chatbot.openapi.generator import build_openapi


def _document() -> dict[str, Any]:
    routes = RouteTable()
    add_chatbot_routes(routes)
    add_knowledge_routes(routes)
    add_conversation_routes(routes)
    return build_openapi(routes.routes, title="chatbot", version="test")


DOCUMENT = _document()
GENERATED = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _validator(schema: dict[str, Any]) -> Any:
    return jsonschema_rs.Draft202012Validator(
        {**schema, "components": DOCUMENT["components"]}, validate_formats=True
    )


def component(name: str) -> Any:
    return _validator({"$ref": f"#/components/schemas/{name}"})


def accepted(model: type[BaseModel], data: Any, *, strict: bool = True) -> bool:
    try:
        model.model_validate(data, strict=strict)
    except ValidationError:
        return False
    return True


def assert_agree(name: str, model: type[BaseModel], body: Any) -> None:
    documented = component(name).is_valid(body)
    assert documented == accepted(model, body), (
        f"{name}: the document says {'valid' if documented else 'invalid'} for {body!r}"
    )


# Values of the wrong JSON type, for any field.
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.floats(-2, 2, allow_nan=False),
    st.lists(st.integers(0, 1), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(0, 1), max_size=1),
)
tricky_text = st.sampled_from(
    ["", " ", "\t\n", "\x00", "a\x00", " a ", "\x1c", "\u3000", "\ufeff", "a\n", "\u00e9"]
)


def text(max_size: int = 12) -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=max_size), tricky_text)


def matching(pattern: str) -> st.SearchStrategy[str]:
    """Strings the documented pattern matches, and near misses made from them."""
    drawn = st.from_regex(re.compile(pattern), fullmatch=True)
    mutated = st.tuples(drawn, st.integers(0, 40), text(2)).map(
        lambda parts: parts[0][: parts[1]] + parts[2] + parts[0][parts[1] + 1 :]
    )
    return st.one_of(drawn, mutated, text())


numbers = st.one_of(
    st.integers(-2, 12),
    st.floats(-1, 3, allow_nan=False),
    st.sampled_from([5.0, 1e6, 1_000_001, 10.5, True, "1", None]),
)
brains = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["knowledge", "echo", "magic"]),
            "threshold": numbers,
            "fallback_message": st.one_of(text(), st.none()),
        },
    ),
    st.fixed_dictionaries(
        {"type": st.just("openai"), "base_url": matching(BASE_URL_PATTERN)},
        optional={
            "model": st.one_of(text(), junk),
            "api_key": st.one_of(text(), st.none()),
            "api_key_set": junk,
            "system_prompt": st.one_of(text(), st.none()),
            "temperature": numbers,
            "max_tokens": numbers,
            "context_passages": numbers,
            "speed": st.integers(),
        },
    ),
    junk,
)
themes = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "title": st.one_of(text(), junk),
            "primary_color": st.one_of(matching(COLOUR_PATTERN), junk),
            "position": st.one_of(st.sampled_from(["left", "right", "center"]), junk),
            "avatar_url": st.one_of(matching(AVATAR_PATTERN), junk),
            "font": st.text(max_size=2),
        },
    ),
    junk,
)
origins = st.one_of(
    st.lists(
        st.one_of(
            matching(ORIGIN_SCHEMA_PATTERN),
            st.sampled_from(
                [
                    "https://a.example/",
                    "https://a.example:0",
                    "https://u@a.example",
                    "null",
                    "https://" + "a" * 292,  # 300 characters, the most an origin may have
                    "https://" + "a" * 293,
                ]
            ),
            junk,
        ),
        max_size=3,
    ),
    junk,
)
CHATBOT_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "name": st.one_of(text(), st.just("x" * 201), junk),
    "slug": st.one_of(matching(SLUG_REGEX), st.just("a" * 65), junk),
    "greeting": st.one_of(text(), st.just(" " * 2001), junk),
    "allowed_origins": origins,
    "brain": brains,
    "theme": themes,
    "id": st.text(max_size=3),
}


@pytest.mark.parametrize("field", list(CHATBOT_FIELDS))
def test_chatbot_bodies_are_accepted_exactly_when_documented_valid(field: str) -> None:
    @GENERATED
    @given(CHATBOT_FIELDS[field])
    def check(value: Any) -> None:
        assert_agree("ChatbotCreate", ChatbotCreate, {"name": "Bot", field: value})
        assert_agree("ChatbotUpdate", ChatbotUpdate, {field: value})

    check()


KNOWLEDGE_VALUES = st.one_of(text(), st.just("q" * 1001), junk)


@GENERATED
@given(
    st.fixed_dictionaries(
        {},
        optional={
            name: KNOWLEDGE_VALUES for name in ("question", "answer", "title", "content", "tag")
        },
    )
)
def test_knowledge_bodies_are_accepted_exactly_when_documented_valid(
    body: dict[str, Any],
) -> None:
    assert_agree("KnowledgeCreate", KnowledgeCreate, body)
    assert_agree("KnowledgeUpdate", KnowledgeUpdate, body)


def _rfc3339(moment: datetime, offset_minutes: int, fraction: bool, zulu: bool) -> str:
    local = moment.replace(tzinfo=UTC).astimezone(timezone(timedelta(minutes=offset_minutes)))
    text = local.isoformat(timespec="microseconds" if fraction else "seconds")
    return text.replace("+00:00", "Z") if zulu else text


times = st.one_of(
    st.builds(
        _rfc3339,
        st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30)),
        st.integers(-23 * 60, 23 * 60),
        st.booleans(),
        st.booleans(),
    ),
    matching(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"),
    st.sampled_from(
        ["0.5", "2026-01-02", "2026-01-02T03:04:05", "2026-01-02 03:04:05Z", "2026-02-30T00:00:00Z",
         "2026-12-31T23:59:60Z", "2026-12-31T22:59:60-01:00", "2026-12-31T23:59:60+01:00",
         "0000-01-01T00:00:00Z", "9999-12-31T23:59:59-01:00", "2026-01-02T03:04:05+24:00"]
    ),
)  # fmt: skip


@GENERATED
@given(times)
def test_the_before_parameter_takes_exactly_the_documented_date_times(value: str) -> None:
    [parameter] = [
        p
        for p in DOCUMENT["paths"]["/api/chatbots/{chatbot_id}/conversations/"]["get"]["parameters"]
        if p["name"] == "before"
    ]
    documented = _validator(parameter["schema"]).is_valid(value)
    assert documented == accepted(InboxQuery, {"before": value}, strict=False), value


TEXT_PART = MULTIPART_BODY["content"]["multipart/form-data"]["schema"]["properties"]["file"]


@GENERATED
@given(st.one_of(matching(NOT_BLANK_PATTERN), st.just("x" * (TEXT_PART["maxLength"] + 1))))
def test_uploaded_text_is_read_exactly_when_documented_valid(value: str) -> None:
    documented = _validator(TEXT_PART).is_valid(value)
    try:
        typed_text(UploadedFile("", "", value.encode(), typed=True))
        read = True
    except ValueError:
        read = False
    assert documented == read, value


def _schemas(node: Any) -> Iterator[dict[str, Any]]:
    """Every schema object of the document, property maps skipped (their keys are names)."""
    if isinstance(node, dict):
        yield node
        for key, value in node.items():
            children = value.values() if key in ("properties", "schemas", "$defs") else [value]
            for child in children:
                yield from _schemas(child)
    elif isinstance(node, list):
        for item in node:
            yield from _schemas(item)


def test_the_document_holds_no_constraint_that_json_schema_would_ignore() -> None:
    # pydantic writes a constraint it cannot place as `ge`/`le`...: validators skip those.
    leaked = {"ge", "gt", "le", "lt", "min_length", "max_length", "multiple_of"}
    found = [schema for schema in _schemas(DOCUMENT) if leaked & schema.keys()]
    assert found == []


def test_the_entry_path_parameter_documents_its_pattern() -> None:
    operation = DOCUMENT["paths"]["/api/chatbots/{chatbot_id}/knowledge/{entry_id}/"]["get"]
    schemas = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert schemas["entry_id"] == {"type": "string", "pattern": "^(?:[0-9a-f-]+)$"}
    assert schemas["chatbot_id"] == {"type": "string"}


def test_a_json_number_without_a_fraction_counts_as_an_integer() -> None:
    brain = {"type": "openai", "base_url": "https://llm.example", "model": "m"}
    assert accepted(ChatbotCreate, {"name": "A", "brain": {**brain, "max_tokens": 5.0}})
    assert not accepted(ChatbotCreate, {"name": "A", "brain": {**brain, "max_tokens": True}})
    assert not accepted(ChatbotCreate, {"name": "A", "brain": {**brain, "max_tokens": "5"}})


def test_validation_failures_keep_naming_the_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate(ChatbotUpdate, {"name": None}, strict=True)
    assert caught.value.details["fields"][0]["field"] == "name"


def test_the_text_rules_strip_exactly_the_whitespace_they_document() -> None:
    assert "".join(chr(code) for code in range(0x110000) if chr(code).isspace()) == WHITESPACE
