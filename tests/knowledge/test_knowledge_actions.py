"""`knowledge/actions.py`: the chatbot's index answers from each knowledge write right after it.

The index is built first, so that this process holds it as current, then the knowledge is
written through the action: the next question must be answered from what was written.
"""

from __future__ import annotations

from typing import Any

import pytest
from knowledge_support import owner_with_chatbot

from chatbot.errors import Conflict, NotFound
from chatbot.knowledge import actions
from chatbot.knowledge.index import knowledge_index
from chatbot.knowledge.repository import KnowledgeEntry
from chatbot.knowledge.schemas import KnowledgeCreate, KnowledgeUpdate
from chatbot.knowledge.uploads import UploadedFile

from conftest import AppClient, ClientFactory

pytestmark = pytest.mark.both_stacks

LEXICAL = {"brains": {"semantic": False}}


@pytest.fixture
async def api(make_client: ClientFactory) -> AppClient:
    return await make_client(**LEXICAL)


@pytest.fixture
async def chatbot_id(api: AppClient) -> str:
    """A chatbot whose (empty) index this process already holds."""
    owner = await owner_with_chatbot(api)
    chatbot_id: str = owner.chatbot["id"]
    assert len(await knowledge_index(api.app, chatbot_id)) == 0
    return chatbot_id


async def _add(api: AppClient, chatbot_id: str, **fields: str) -> KnowledgeEntry:
    body = KnowledgeCreate.model_validate(fields)
    return await actions.add_entry(api.app, chatbot_id, body)


async def _update(api: AppClient, entry: KnowledgeEntry, **fields: Any) -> KnowledgeEntry:
    return await actions.update_entry(api.app, entry, KnowledgeUpdate.model_validate(fields))


async def _best_reply(api: AppClient, chatbot_id: str, question: str) -> str | None:
    """What the chatbot's index answers the question with, if anything."""
    index = await knowledge_index(api.app, chatbot_id)
    matches = await index.asearch(question, limit=1)
    return matches[0].passage.reply_text if matches else None


async def test_an_added_pair_answers_the_next_question(api: AppClient, chatbot_id: str) -> None:
    await _add(api, chatbot_id, question="Is parking free?", answer="Yes, always.")

    assert await _best_reply(api, chatbot_id, "is parking free") == "Yes, always."


async def test_an_added_document_answers_the_next_question(api: AppClient, chatbot_id: str) -> None:
    content = "Returns are accepted within 30 days of delivery."
    await _add(api, chatbot_id, title="Returns", content=content)

    assert await _best_reply(api, chatbot_id, "returns accepted within days") == content


async def test_uploaded_files_answer_the_next_question(api: AppClient, chatbot_id: str) -> None:
    text = b"# Shipping\n\nWe ship parcels to Canada within 5 working days.\n"
    upload = UploadedFile("shipping.md", "text/markdown", text)

    [entry] = await actions.add_files(api.app, chatbot_id, [upload])

    assert (entry.kind, entry.source) == ("document", "shipping.md")
    reply = await _best_reply(api, chatbot_id, "ship parcels to Canada")
    assert reply is not None
    assert "within 5 working days" in reply


async def test_an_edited_entry_answers_with_its_new_text(api: AppClient, chatbot_id: str) -> None:
    entry = await _add(api, chatbot_id, question="Is parking free?", answer="Yes, always.")
    assert await _best_reply(api, chatbot_id, "is parking free") == "Yes, always."

    edited = await _update(api, entry, answer="Only on Sundays.")

    assert edited.answer == "Only on Sundays."
    assert await _best_reply(api, chatbot_id, "is parking free") == "Only on Sundays."


async def test_a_deleted_entry_no_longer_answers(api: AppClient, chatbot_id: str) -> None:
    entry = await _add(api, chatbot_id, question="Is parking free?", answer="Yes, always.")
    assert await _best_reply(api, chatbot_id, "is parking free") == "Yes, always."

    await actions.delete_entry(api.app, chatbot_id, entry.id)

    assert await _best_reply(api, chatbot_id, "is parking free") is None
    with pytest.raises(NotFound) as again:
        await actions.delete_entry(api.app, chatbot_id, entry.id)
    assert again.value.code == "entry_not_found"


async def test_fields_of_the_other_kind_are_a_409_and_change_nothing(
    api: AppClient, chatbot_id: str
) -> None:
    entry = await _add(api, chatbot_id, question="Is parking free?", answer="Yes, always.")

    with pytest.raises(Conflict) as refused:
        await _update(api, entry, title="Parking", content="Free on Sundays.")

    assert refused.value.code == "entry_kind_mismatch"
    assert [item["field"] for item in refused.value.details["fields"]] == ["content", "title"]
    assert await _best_reply(api, chatbot_id, "is parking free") == "Yes, always."


async def test_editing_an_entry_deleted_meanwhile_is_404_entry_not_found(
    api: AppClient, chatbot_id: str
) -> None:
    entry = await _add(api, chatbot_id, question="Is parking free?", answer="Yes, always.")
    await actions.delete_entry(api.app, chatbot_id, entry.id)

    with pytest.raises(NotFound) as refused:
        await _update(api, entry, answer="Only on Sundays.")

    assert refused.value.code == "entry_not_found"
