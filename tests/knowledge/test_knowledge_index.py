"""The knowledge index: built once per chatbot and process, rebuilt after any change anywhere."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from knowledge_support import FAQ, add_entry, add_faq, owner_with_chatbot
from sqlalchemy import select

from chatbot import keys
from chatbot.knowledge import index as index_module
from chatbot.knowledge.index import (
    KNOWLEDGE_INDEXES,
    KnowledgeIndexes,
    knowledge_index,
    process_embedder,
)
from chatbot.retrieval.embedder import Embedder
from chatbot.storage.schema import knowledge_passages

from conftest import AppClient, ClientFactory
from support import until

LEXICAL = {"brains": {"semantic": False}}


async def test_the_index_is_built_once_and_reused_while_nothing_changes(
    make_client: ClientFactory,
) -> None:
    api = await make_client(**LEXICAL)
    owner = await owner_with_chatbot(api)
    await add_faq(api, owner)

    together = await asyncio.gather(
        *(knowledge_index(api.app, owner.chatbot["id"]) for _ in range(5))
    )
    later = await knowledge_index(api.app, owner.chatbot["id"])

    assert all(index is later for index in together)
    assert sorted(p.title for p in later.passages) == sorted(q for q, _ in FAQ)


async def test_each_knowledge_change_is_in_the_next_index(make_client: ClientFactory) -> None:
    api = await make_client(**LEXICAL)
    owner = await owner_with_chatbot(api)
    chatbot_id = owner.chatbot["id"]
    empty = await knowledge_index(api.app, chatbot_id)
    assert len(empty) == 0

    entry = await add_entry(api, owner, question="Is parking free?", answer="Yes, always.")
    created = await knowledge_index(api.app, chatbot_id)
    assert [p.reply_text for p in created.passages] == ["Yes, always."]

    await api.patch(
        f"{owner.knowledge}{entry['id']}/",
        json={"answer": "Only on Sundays."},
        headers=owner.headers,
    )
    patched = await knowledge_index(api.app, chatbot_id)
    assert [p.reply_text for p in patched.passages] == ["Only on Sundays."]

    await api.delete(f"{owner.knowledge}{entry['id']}/", headers=owner.headers)
    assert len(await knowledge_index(api.app, chatbot_id)) == 0


async def test_indexes_are_per_chatbot(make_client: ClientFactory) -> None:
    api = await make_client(**LEXICAL)
    first, second = await owner_with_chatbot(api), await owner_with_chatbot(api)
    await add_entry(api, first, question="First?", answer="One.")
    await add_entry(api, second, question="Second?", answer="Two.")

    one = await knowledge_index(api.app, first.chatbot["id"])
    two = await knowledge_index(api.app, second.chatbot["id"])

    assert [p.reply_text for p in one.passages] == ["One."]
    assert [p.reply_text for p in two.passages] == ["Two."]


async def test_a_change_on_one_instance_rebuilds_the_index_on_the_other(
    make_client: ClientFactory, postgres_url: str, redis_url: str
) -> None:
    one = await make_client(database_url=postgres_url, redis_url=redis_url, **LEXICAL)
    two = await make_client(database_url=postgres_url, redis_url=redis_url, **LEXICAL)
    owner = await owner_with_chatbot(one)
    chatbot_id = owner.chatbot["id"]
    entry = await add_entry(one, owner, question="Is parking free?", answer="Yes.")
    assert [p.reply_text for p in (await knowledge_index(two.app, chatbot_id)).passages] == ["Yes."]

    await one.patch(
        f"{owner.knowledge}{entry['id']}/", json={"answer": "No."}, headers=owner.headers
    )
    assert [p.reply_text for p in (await knowledge_index(two.app, chatbot_id)).passages] == ["No."]

    await add_entry(one, owner, title="Hours", content="Open 9 to 5.")
    replies = {p.reply_text for p in (await knowledge_index(two.app, chatbot_id)).passages}
    assert replies == {"No.", "Open 9 to 5."}

    await one.delete(f"{owner.knowledge}{entry['id']}/", headers=owner.headers)
    replies = {p.reply_text for p in (await knowledge_index(two.app, chatbot_id)).passages}
    assert replies == {"Open 9 to 5."}


async def test_a_paraphrase_finds_its_entry_by_meaning_and_embeddings_are_stored(
    make_client: ClientFactory, database_url: str
) -> None:
    api = await make_client(database_url=database_url, brains={"semantic": True})
    owner = await owner_with_chatbot(api)
    await add_faq(api, owner)

    response = await api.post(
        f"{owner.knowledge}test/",
        json={"question": "I forgot my login secret, how can I change it?"},
        headers=owner.headers,
    )

    result = await response.json()
    assert response.status == 200, result
    assert result["answered"] is True
    assert result["match"]["question"] == "How do I reset my password?"
    async with api.app[keys.ENGINE].connect() as connection:
        stored = (await connection.execute(select(knowledge_passages.c.embedding))).scalars().all()
    assert len(stored) == len(FAQ)
    assert all(embedding for embedding in stored)


async def _stored_embeddings(api: AppClient) -> list[bytes | None]:
    async with api.app[keys.ENGINE].connect() as connection:
        return list((await connection.execute(select(knowledge_passages.c.embedding))).scalars())


async def test_a_small_embedding_backlog_is_embedded_before_the_index_answers(
    make_client: ClientFactory,
) -> None:
    api = await make_client(**LEXICAL)
    owner = await owner_with_chatbot(api)
    await add_faq(api, owner)
    indexes = KnowledgeIndexes(
        api.app[keys.ENGINE], api.app[keys.CACHE], process_embedder(), inline_embeddings=len(FAQ)
    )
    try:
        index = await indexes.get(owner.chatbot["id"])
    finally:
        await indexes.close()

    assert index.semantic
    assert all(await _stored_embeddings(api))


async def test_a_big_embedding_backlog_answers_by_wording_at_once_and_by_meaning_soon(
    make_client: ClientFactory,
) -> None:
    api = await make_client(**LEXICAL)
    owner = await owner_with_chatbot(api)
    await add_faq(api, owner)
    chatbot_id = owner.chatbot["id"]
    indexes = KnowledgeIndexes(
        api.app[keys.ENGINE], api.app[keys.CACHE], process_embedder(), inline_embeddings=1
    )
    try:
        first = await indexes.get(chatbot_id)
        deadline = time.monotonic() + 60  # loading the model can take seconds on a busy machine
        while not (later := await indexes.get(chatbot_id)).semantic:
            assert time.monotonic() < deadline, "the embeddings were never computed"
            await asyncio.sleep(0.05)
    finally:
        await indexes.close()

    assert not first.semantic
    assert sorted(p.title for p in first.passages) == sorted(q for q, _ in FAQ)
    assert sorted(p.title for p in later.passages) == sorted(q for q, _ in FAQ)
    assert all(await _stored_embeddings(api))


async def _until_loaded(embedder: Embedder) -> None:
    # Loading the model can take seconds on a busy machine.
    await until(lambda: embedder.loaded, 60, "the sentence model was never loaded")


async def test_the_first_knowledge_written_starts_loading_the_sentence_model(
    make_client: ClientFactory,
) -> None:
    api = await make_client(**LEXICAL)
    owner = await owner_with_chatbot(api)
    embedder = Embedder()  # not the process's: this one starts unloaded
    indexes = KnowledgeIndexes(api.app[keys.ENGINE], api.app[keys.CACHE], embedder)
    try:
        without_knowledge = indexes.load_model_when_needed()
        assert without_knowledge is not None
        await without_knowledge
        assert not embedder.loaded  # nothing to search: no model in memory

        await add_entry(api, owner, question="Is parking free?", answer="Yes, always.")
        await indexes.changed(owner.chatbot["id"])  # what every knowledge write calls
        await _until_loaded(embedder)  # no question asked
        assert indexes.load_model_when_needed() is None
    finally:
        await indexes.close()


async def test_an_app_started_over_existing_knowledge_loads_the_model_before_any_question(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = await make_client(**LEXICAL)
    owner = await owner_with_chatbot(api)
    await add_entry(api, owner, question="Is parking free?", answer="Yes, always.")
    embedder = Embedder()  # the restarted process's model, not loaded yet
    monkeypatch.setattr(index_module, "process_embedder", lambda _model_dir: embedder)

    restarted = await make_client()  # the same database, semantic search on (the default)

    assert restarted.app[KNOWLEDGE_INDEXES].embedder is embedder
    await _until_loaded(embedder)


async def test_a_model_that_cannot_load_ahead_of_questions_is_one_warning_not_a_crash(
    make_client: ClientFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    api = await make_client(**LEXICAL)
    owner = await owner_with_chatbot(api)
    await add_entry(api, owner, question="Is parking free?", answer="Yes, always.")
    broken = Embedder(tmp_path / "no-model-here")
    indexes = KnowledgeIndexes(api.app[keys.ENGINE], api.app[keys.CACHE], broken)
    try:
        loading = indexes.load_model_when_needed()
        assert loading is not None
        await loading  # does not raise: the server goes on

        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert len(warnings) == 1, warnings
        assert "could not load the sentence model ahead of questions" in warnings[0]
        assert "Traceback" not in caplog.text
        assert not broken.loaded
    finally:
        await indexes.close()


async def test_an_app_without_the_model_files_says_so_once_and_answers_by_keywords(
    make_client: ClientFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "no-model-here"
    api = await make_client(brains={"model_dir": str(missing)})
    owner = await owner_with_chatbot(api)
    _, hours, _ = await add_faq(api, owner)

    response = await api.post(
        f"{owner.knowledge}test",
        json={"question": "What are your opening hours?"},
        headers=owner.headers,
    )
    result = await response.json()
    assert response.status == 200, result
    assert result["match"]["entry_id"] == hours["id"]
    assert api.app[KNOWLEDGE_INDEXES].embedder is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [
        f"semantic search is off: the model directory {missing} (from "
        "CHATBOT_BRAINS__MODEL_DIR) does not exist; run `chatbot model install` or set "
        "CHATBOT_BRAINS__MODEL_DIR"
    ]
    assert "Traceback" not in caplog.text
