"""Bad knowledge input gets a clear 4xx error and loses nothing already stored."""

from __future__ import annotations

from typing import Any

import pytest
from knowledge_support import Owner, add_entry, error_of, owner_with_chatbot

from chatbot.knowledge.schemas import MAX_ANSWER_LENGTH, MAX_CONTENT_LENGTH, MAX_QUESTION_LENGTH

from conftest import AppClient, ClientFactory

# (case, body, a field the error names)
BAD_ENTRIES: list[tuple[str, Any, str]] = [
    ("empty object", {}, "body"),
    ("question without answer", {"question": "Q?"}, "body"),
    ("answer without question", {"answer": "A."}, "body"),
    ("title without content", {"title": "T"}, "body"),
    ("both kinds", {"question": "Q?", "answer": "A.", "title": "T", "content": "C"}, "body"),
    ("empty question", {"question": "", "answer": "A."}, "question"),
    ("blank answer", {"question": "Q?", "answer": "   "}, "answer"),
    ("long question", {"question": "q" * (MAX_QUESTION_LENGTH + 1), "answer": "A."}, "question"),
    ("answer too long", {"question": "Q?", "answer": "a" * (MAX_ANSWER_LENGTH + 1)}, "answer"),
    ("content too long", {"title": "T", "content": "c" * (MAX_CONTENT_LENGTH + 1)}, "content"),
    ("question not a string", {"question": 7, "answer": "A."}, "question"),
    ("content a list", {"title": "T", "content": ["a", "b"]}, "content"),
    ("null answer", {"question": "Q?", "answer": None}, "answer"),
    ("null beside a pair", {"question": "Q?", "answer": "A.", "title": None}, "title"),
    ("pair and a document field", {"question": "Q?", "answer": "A.", "content": "C"}, "body"),
    ("NUL in a question", {"question": "Q\x00?", "answer": "A."}, "question"),
    ("number as text", {"title": "T", "content": 5}, "content"),
    ("unknown field", {"question": "Q?", "answer": "A.", "tags": ["x"]}, "tags"),
]  # fmt: skip


@pytest.fixture
async def api(make_client: ClientFactory) -> AppClient:
    return await make_client(brains={"semantic": False})


@pytest.fixture
async def owner(api: AppClient) -> Owner:
    owner = await owner_with_chatbot(api)
    await add_entry(api, owner, question="Kept?", answer="Kept.")
    return owner


async def _items(api: AppClient, owner: Owner) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (
        await (await api.get(owner.knowledge, headers=owner.headers)).json()
    )["items"]
    return items


@pytest.mark.parametrize(("case", "body", "field"), BAD_ENTRIES, ids=[c[0] for c in BAD_ENTRIES])
async def test_a_bad_entry_answers_422_naming_the_problem_and_stores_nothing(
    api: AppClient, owner: Owner, case: str, body: Any, field: str
) -> None:
    before = await _items(api, owner)

    response = await api.post(owner.knowledge, json=body, headers=owner.headers)

    error = await error_of(response, 422)
    assert error["code"] == "validation_error"
    assert field in [item["field"] for item in error["fields"]], error
    assert await _items(api, owner) == before


async def test_a_half_pair_error_says_which_field_is_missing(api: AppClient, owner: Owner) -> None:
    response = await api.post(owner.knowledge, json={"question": "Q?"}, headers=owner.headers)

    [problem] = (await error_of(response, 422))["fields"]
    assert "'answer'" in problem["message"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"answer": None},
        {"answer": ""},
        {"answer": 3},
        {"answer": "ok", "extra": 1},
        {"answer": "ok", "title": "T"},
        {"answer": " \n "},
    ],
    ids=["nothing", "null", "empty", "number", "unknown field", "both kinds", "blank"],
)
async def test_a_bad_patch_answers_422_and_keeps_the_entry(
    api: AppClient, owner: Owner, body: dict[str, Any]
) -> None:
    [entry] = await _items(api, owner)

    response = await api.patch(f"{owner.knowledge}{entry['id']}/", json=body, headers=owner.headers)

    assert (await error_of(response, 422))["code"] == "validation_error"
    assert await _items(api, owner) == [entry]


@pytest.mark.parametrize("raw", [b"{", b"", b"question=Q&answer=A", b"\xff"])
async def test_a_body_that_is_not_json_answers_400(
    api: AppClient, owner: Owner, raw: bytes
) -> None:
    [entry] = await _items(api, owner)
    headers = {**owner.headers, "Content-Type": "application/json"}

    for method, path in (
        ("POST", owner.knowledge),
        ("PATCH", f"{owner.knowledge}{entry['id']}/"),
        ("POST", f"{owner.knowledge}test/"),
    ):
        response = await api.request(method, path, data=raw, headers=headers)
        assert (await error_of(response, 400))["code"] == "invalid_json"
    assert await _items(api, owner) == [entry]


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "question"), ({"question": ""}, "question"), ({"question": "  "}, "question"),
     ({"question": 42}, "question"), ({"question": "q" * (MAX_QUESTION_LENGTH + 1)}, "question"),
     ({"question": "ok", "limit": 3}, "limit")],
)  # fmt: skip
async def test_a_bad_test_question_answers_422(
    api: AppClient, owner: Owner, body: dict[str, Any], field: str
) -> None:
    response = await api.post(f"{owner.knowledge}test/", json=body, headers=owner.headers)

    error = await error_of(response, 422)
    assert field in [item["field"] for item in error["fields"]]
