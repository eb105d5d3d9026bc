"""An index updated in place ranks exactly like one built afresh from the same passages."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from chatbot.retrieval.embedder import Embedder, semantic_available
from chatbot.retrieval.index import KnowledgeIndex
from chatbot.retrieval.passages import Passage, qa_passage

SUBJECTS = ["parking", "refunds", "opening hours", "shipping", "passwords", "gift cards", "dogs"]
VERBS = ["pay for", "get", "change", "cancel", "find", "ask about", "renew"]
PLACES = ["in the shop", "online", "at the airport", "by phone", "in Berlin", "on Sundays"]
QUESTIONS = [
    "how do I get a refund?",
    "is parking free on Sundays?",
    "can I change my password online",
    "shipping to Berlin",
    "dogs",
    "what is the weather tomorrow?",
]


def pool(size: int, seed: int) -> list[Passage]:
    """Varied question/answer passages, several per entry id, some sharing wording."""
    chance = random.Random(seed)
    passages = []
    for number in range(size):
        subject, verb, place = (chance.choice(items) for items in (SUBJECTS, VERBS, PLACES))
        passage = qa_passage(
            f"entry-{number}",
            f"How do I {verb} {subject} {place}?",
            f"To {verb} {subject} {place}, ask at the desk {chance.randint(1, 9)}.",
        )
        passages.append(replace(passage, id=f"entry-{number}#0"))
    return passages


def ranking(index: KnowledgeIndex, question: str) -> dict[str, tuple[float, float]]:
    """Every passage the question finds, with its score and confidence."""
    return {
        match.passage.id: (match.score, match.confidence)
        for match in index.search(question, limit=len(index) or 1)
    }


def assert_same_rankings(updated: KnowledgeIndex, fresh: KnowledgeIndex) -> None:
    assert sorted(p.id for p in updated.passages) == sorted(p.id for p in fresh.passages)
    for question in QUESTIONS:
        got, expected = ranking(updated, question), ranking(fresh, question)
        assert got.keys() == expected.keys(), question
        for passage_id, (score, confidence) in expected.items():
            assert got[passage_id] == pytest.approx((score, confidence), abs=1e-5), question


def random_changes(
    index: KnowledgeIndex, passages: list[Passage], seed: int, embedder: Embedder | None
) -> None:
    """Add, replace and delete entries at random, checking against a fresh build each time."""
    chance = random.Random(seed)
    present: dict[str, Passage] = {p.entry_id: p for p in passages[:6]}
    for _ in range(12):
        entry = chance.choice(passages)
        action = chance.choice(["add or replace", "delete", "replace wording"])
        if action == "delete":
            present.pop(entry.entry_id, None)
            index.update([entry.entry_id], [])
        else:
            if action == "replace wording":
                entry = replace(entry, match_text=f"{entry.match_text} gift cards", embedding=None)
            present[entry.entry_id] = entry
            index.update([entry.entry_id], [entry])
        assert_same_rankings(index, KnowledgeIndex.build(list(present.values()), embedder))


@pytest.mark.parametrize("seed", range(8))
def test_lexical_updates_rank_like_a_fresh_build(seed: int) -> None:
    passages = pool(20, seed)
    index = KnowledgeIndex.build(passages[:6])

    random_changes(index, passages, seed, None)

    assert index.updates == 12


@pytest.fixture(scope="module")
def embedded() -> tuple[Embedder, list[Passage]]:
    """The real sentence model, and a pool of passages carrying its embeddings."""
    assert semantic_available(), "install the sentence model: chatbot model install"
    embedder = Embedder()
    passages = pool(20, 99)
    vectors = embedder.embed([p.match_text for p in passages])
    return embedder, [replace(p, embedding=v) for p, v in zip(passages, vectors, strict=True)]


@pytest.mark.parametrize("seed", range(4))
def test_semantic_updates_rank_like_a_fresh_build(
    seed: int, embedded: tuple[Embedder, list[Passage]]
) -> None:
    embedder, passages = embedded
    shuffled = random.Random(seed).sample(passages, len(passages))
    index = KnowledgeIndex.build(shuffled[:6], embedder)

    random_changes(index, shuffled, seed, embedder)

    assert index.semantic


def test_an_emptied_index_finds_nothing_and_fills_again() -> None:
    passages = pool(3, 1)
    index = KnowledgeIndex.build(passages)

    index.update([p.entry_id for p in passages], [])
    assert len(index) == 0
    assert index.search("refunds") == []

    index.update([], passages[:1])
    assert [match.passage.id for match in index.search(passages[0].title)] == [passages[0].id]
