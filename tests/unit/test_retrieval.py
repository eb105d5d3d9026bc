"""Knowledge retrieval: lexical and semantic indexes, stored embeddings, the knowledge brain."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from chatbot.brains import BrainRequest
from chatbot.brains.demo import load_demo_knowledge
from chatbot.brains.knowledge import KnowledgeBrain
from chatbot.retrieval.embedder import (
    Embedder,
    TextEmbedding,
    create_embedder,
    semantic_available,
)
from chatbot.retrieval.index import KnowledgeIndex, build_index
from chatbot.retrieval.passages import (
    Passage,
    passages_from_entries,
    qa_passage,
)

DATA = Path(__file__).resolve().parent.parent / "data"
FALLBACK = "Not sure; shall I fetch a person?"


def kb_passages() -> list[Passage]:
    entries = json.loads((DATA / "knowledge_base.json").read_text("utf-8"))
    return [qa_passage(entry["id"], entry["question"], entry["answer"]) for entry in entries]


class CountingEmbedder(Embedder):
    """The real embedder, counting the texts it embeds."""

    def __init__(self) -> None:
        super().__init__()
        self.embedded: list[str] = []
        self.seen: list[object] = []

    def embed(self, texts: Sequence[str]) -> list[TextEmbedding]:
        self.embedded.extend(texts)
        return super().embed(texts)


@pytest.fixture(scope="module")
def embedder() -> CountingEmbedder:
    assert semantic_available(), "install the sentence model: chatbot model install"
    model = CountingEmbedder()

    def first_question() -> None:
        model.load()
        model.seen.append(model._model)

    # Loaded from several threads at once, as concurrent first questions would.
    threads = [threading.Thread(target=first_question) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return model


@pytest.fixture(scope="module")
def lexical_index() -> KnowledgeIndex:
    return KnowledgeIndex.build(kb_passages())


def test_empty_index_finds_nothing() -> None:
    index = KnowledgeIndex.empty()
    assert len(index) == 0
    assert index.search("how do I install it?") == []
    assert KnowledgeIndex.build([]).search("anything") == []


def test_lexical_index_finds_a_question_asked_in_its_own_words(
    lexical_index: KnowledgeIndex,
) -> None:
    assert not lexical_index.semantic
    matches = lexical_index.search("Can I use PostgreSQL instead of SQLite?", limit=3)
    assert len(matches) == 3
    assert matches[0].passage.entry_id == "postgresql"
    assert matches[0].confidence > 0.9
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)


def test_lexical_confidence_is_low_for_questions_sharing_no_words(
    lexical_index: KnowledgeIndex,
) -> None:
    assert lexical_index.search("quantum chromodynamics lattice", limit=1)[0].confidence == 0.0
    assert lexical_index.search("the and of", limit=1)[0].confidence == 0.0
    assert lexical_index.search("   ") == []


@pytest.fixture(scope="module")
def shop_index() -> KnowledgeIndex:
    """A shop's FAQ searched by wording alone, as without the sentence model."""
    return KnowledgeIndex.build(
        [
            qa_passage("hours", "What are your opening hours?", "Monday to Saturday, 9 to 18."),
            qa_passage("shipping", "How much is shipping?", "Free over 50 euros."),
            qa_passage("returns", "Can I return an item?", "Within 30 days, unused."),
        ]
    )


@pytest.mark.parametrize(
    ("question", "entry_id"),
    [
        ("when are you open?", "hours"),  # "open" and "opening" are one stem
        ("Are you opened on Saturday?", "hours"),
        ("is shipping free?", "shipping"),
    ],
)
def test_lexical_only_answers_a_question_whose_content_words_an_entry_has(
    shop_index: KnowledgeIndex, question: str, entry_id: str
) -> None:
    [best] = shop_index.search(question, limit=1)
    assert best.passage.entry_id == entry_id
    assert best.confidence > 0.5


@pytest.mark.parametrize(
    "question",
    [
        "what is the weather tomorrow in Berlin?",
        "do you sell car insurance?",  # "sell" and "car" appear nowhere; "do you" is no match
        "what can you do for me?",  # only question words
        "how much is a car?",  # "much" is a question word, "car" is unknown
    ],
)
def test_lexical_only_refuses_a_question_that_shares_only_question_words_or_little(
    shop_index: KnowledgeIndex, question: str
) -> None:
    [best] = shop_index.search(question, limit=1)
    assert best.confidence < 0.5


def test_passage_without_words_is_indexed() -> None:
    index = KnowledgeIndex.build([qa_passage("a", "?", "!"), qa_passage("b", "Price", "Free")])
    assert index.search("price", limit=1)[0].passage.entry_id == "b"


async def test_knowledge_brain_answers_from_the_best_entry(lexical_index: KnowledgeIndex) -> None:
    brain = KnowledgeBrain(fallback_message=FALLBACK, threshold=0.5)
    question = "Is there a health check endpoint for my load balancer?"
    reply = brain.reply(BrainRequest("Bot", question, knowledge=lexical_index))
    deltas = [delta async for delta in reply]
    expected = next(p.reply_text for p in lexical_index.passages if p.entry_id == "health-checks")
    assert "".join(deltas) == expected
    assert len(deltas) > 1  # streamed in pieces, like a generated answer
    assert not reply.handoff
    assert reply.verdict.entry_id == "health-checks"


async def test_knowledge_brain_offers_a_human_below_the_threshold(
    lexical_index: KnowledgeIndex,
) -> None:
    brain = KnowledgeBrain(fallback_message=FALLBACK, threshold=0.5)
    reply = brain.reply(BrainRequest("Bot", "quantum chromodynamics", knowledge=lexical_index))
    assert await reply.collect() == FALLBACK
    assert reply.handoff
    assert reply.verdict.reason == "low_confidence"


async def test_per_chatbot_threshold_and_fallback(lexical_index: KnowledgeIndex) -> None:
    brain = KnowledgeBrain(fallback_message=FALLBACK, threshold=0.0)
    config = {"type": "knowledge", "threshold": 1.0, "fallback_message": "Ask Ana."}
    reply = brain.reply(BrainRequest("Bot", "postgresql", config=config, knowledge=lexical_index))
    assert await reply.collect() == "Ask Ana."
    assert reply.handoff


async def test_knowledge_brain_without_knowledge_hands_off() -> None:
    brain = KnowledgeBrain(fallback_message=FALLBACK)
    for knowledge in (None, KnowledgeIndex.empty()):
        reply = brain.reply(BrainRequest("Bot", "hello?", knowledge=knowledge))
        assert await reply.collect() == FALLBACK
        assert reply.verdict.reason == "no_knowledge"


def test_create_embedder_respects_the_setting() -> None:
    assert create_embedder(enabled=False) is None
    assert isinstance(create_embedder(enabled=True), Embedder)


def test_embedder_loads_once_even_from_many_threads(embedder: CountingEmbedder) -> None:
    assert embedder.loaded
    first = embedder._model
    assert embedder.seen == [first] * 4
    embedder.load()
    assert embedder._model is first


def test_embeddings_round_trip_through_bytes(embedder: CountingEmbedder) -> None:
    [embedding] = embedder.embed(["How do I install the server?"])
    assert embedding.vector.shape == (384,)
    assert embedding.tokens.shape[1] == 384
    assert np.isclose(np.linalg.norm(embedding.vector), 1.0, atol=1e-5)
    restored = TextEmbedding.from_bytes(embedding.to_bytes())
    assert restored is not None
    assert np.allclose(restored.vector, embedding.vector, atol=1e-3)
    assert np.allclose(restored.tokens, embedding.tokens, atol=1e-3)
    assert TextEmbedding.from_bytes(b"garbage") is None
    assert TextEmbedding.from_bytes(embedding.to_bytes()[:-2]) is None


async def test_semantic_index_matches_meaning_and_reuses_stored_embeddings(
    embedder: CountingEmbedder,
) -> None:
    passages = kb_passages()
    index = await build_index(passages, embedder)
    assert index.semantic
    embedded = await embedder.aembed([p.match_text for p in passages[:5]])
    stored = [
        replace(passage, embedding=TextEmbedding.from_bytes(item.to_bytes()))
        for passage, item in zip(passages, embedded, strict=False)
    ]
    embedder.embedded.clear()
    reused = await build_index([*stored, *passages[5:]], embedder)
    # Only the passages without a stored embedding were embedded again.
    assert embedder.embedded == [p.match_text for p in passages[5:]]

    assert (await build_index([], embedder)).search("anything") == []
    for built in (index, reused):
        # No word in common with the entry ("price" vs "cost"), found by meaning.
        [best] = await built.asearch("what's the price tag?", limit=1)
        assert best.passage.entry_id == "pricing"
        assert best.confidence > 0.5
        assert best.cosine is not None
        assert best.maxsim is not None
        [off] = await built.asearch("Who painted the Mona Lisa?", limit=1)
        assert off.confidence < 0.5


async def test_demo_knowledge_answers_questions_about_the_server() -> None:
    entries = load_demo_knowledge()
    assert 15 <= len(entries) <= 35
    index = await build_index(passages_from_entries(entries))
    brain = KnowledgeBrain(fallback_message=FALLBACK)
    reply = brain.reply(BrainRequest("Demo", "How do I install the server?", knowledge=index))
    assert "pip install" in await reply.collect()
    assert reply.verdict.entry_id == "install"


@pytest.mark.parametrize(
    ("question", "entry_id"),
    [
        ("when are you open?", "opening-hours"),
        ("how do I get my money back?", None),  # the example: no refund entry
        ("what is the weather tomorrow in Berlin?", None),
    ],
)
async def test_the_demo_without_the_sentence_model_answers_or_offers_a_person(
    question: str, entry_id: str | None
) -> None:
    index = await build_index(passages_from_entries(load_demo_knowledge()))
    brain = KnowledgeBrain(fallback_message=FALLBACK)
    reply = brain.reply(BrainRequest("Demo", question, knowledge=index))
    text = await reply.collect()
    assert reply.verdict.entry_id == entry_id
    assert (text == FALLBACK) == (entry_id is None)
