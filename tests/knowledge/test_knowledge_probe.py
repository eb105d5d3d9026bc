"""`POST /api/chatbots/{id}/knowledge/test/`: the entry the knowledge brain would answer with."""

from __future__ import annotations

from typing import Any

import pytest
from knowledge_support import Owner, add_faq, owner_with_chatbot

from chatbot import keys

from conftest import AppClient, ClientFactory


@pytest.fixture
async def api(make_client: ClientFactory) -> AppClient:
    return await make_client(brains={"semantic": False})


async def _ask(api: AppClient, owner: Owner, question: str) -> dict[str, Any]:
    response = await api.post(
        f"{owner.knowledge}test", json={"question": question}, headers=owner.headers
    )
    body: dict[str, Any] = await response.json()
    assert response.status == 200, body
    return body


async def test_a_known_question_shows_the_entry_its_reply_and_a_score_over_the_threshold(
    api: AppClient,
) -> None:
    owner = await owner_with_chatbot(api)
    _, hours, _ = await add_faq(api, owner)

    result = await _ask(api, owner, "What are your opening hours?")

    assert result["answered"] is True
    assert result["question"] == "What are your opening hours?"
    assert result["threshold"] == api.app[keys.SETTINGS].brains.knowledge_threshold
    assert result["reply"] == hours["answer"]
    match = result["match"]
    assert match["entry_id"] == hours["id"]
    assert match["kind"] == "qa"
    assert match["question"] == hours["question"]
    assert match["reply"] == hours["answer"]
    assert result["threshold"] <= match["score"] <= 1
    assert result["candidates"][0] == match
    scores = [candidate["score"] for candidate in result["candidates"]]
    assert scores == sorted(scores, reverse=True)


async def test_an_off_topic_question_gets_the_fallback_and_no_match(api: AppClient) -> None:
    owner = await owner_with_chatbot(api)
    await add_faq(api, owner)

    result = await _ask(api, owner, "Explain quantum chromodynamics to a giraffe")

    assert result["answered"] is False
    assert result["match"] is None
    assert result["reply"] == api.app[keys.SETTINGS].brains.fallback_message
    assert all(c["score"] < result["threshold"] for c in result["candidates"])


async def test_without_knowledge_every_question_gets_the_fallback(api: AppClient) -> None:
    owner = await owner_with_chatbot(api)

    result = await _ask(api, owner, "What are your opening hours?")

    assert result["answered"] is False
    assert result["candidates"] == []


async def test_the_chatbots_own_threshold_and_fallback_are_used(api: AppClient) -> None:
    brain = {"type": "knowledge", "threshold": 1.0, "fallback_message": "Ask Jo at the desk."}
    owner = await owner_with_chatbot(api, brain=brain)
    await add_faq(api, owner)

    result = await _ask(api, owner, "What are your opening hours?")

    assert result["threshold"] == 1.0
    assert result["answered"] is False
    assert result["reply"] == "Ask Jo at the desk."
    assert result["candidates"][0]["question"] == "What are your opening hours?"


async def test_a_document_passage_is_shown_with_its_title(api: AppClient) -> None:
    owner = await owner_with_chatbot(api)
    await api.post(
        owner.knowledge,
        json={"title": "Delivery", "content": "## Parcel lockers\n\nParcels go to lockers."},
        headers=owner.headers,
    )

    result = await _ask(api, owner, "Can parcels go to lockers?")

    assert result["answered"] is True
    assert result["match"]["kind"] == "document"
    assert result["match"]["title"] == "Delivery"
    assert result["match"]["passage"] == "Parcel lockers\nParcels go to lockers."
    assert result["reply"] == "Parcels go to lockers."
