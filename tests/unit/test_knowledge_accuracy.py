"""How often the knowledge brain answers paraphrased questions right and refuses off-topic ones.

Two kinds of question sets (tests/knowledge_sets.py): the tuning sets, which the scoring
constants were chosen on (this server's FAQ, and three other businesses'), and the held-out
sets (five businesses' FAQs with near-miss off-topic questions), written before the calibration
and never used to choose anything. Every test prints its figures and asserts a floor.

The issue's goal for the held-out sets with the sentence model is 95 % of paraphrases right and
95 % of off-topic questions refused. Not reached: the floors below are what the current scoring
does (see docs/benchmarks.md, "Knowledge answers: refuse rather than guess"), so that a change
that makes it worse fails here. Raise them with the figures, never lower them to pass.
"""

from __future__ import annotations

import pytest
from knowledge_sets import QuestionSet, Tally, answers, heldout_sets, tuning_sets

from chatbot.brains import BrainRequest
from chatbot.brains.knowledge import DEFAULT_THRESHOLD, KnowledgeBrain
from chatbot.retrieval.embedder import Embedder, semantic_available
from chatbot.retrieval.index import KnowledgeIndex
from chatbot.retrieval.passages import qa_passage

FALLBACK = "FALLBACK"

# (paraphrases right, off-topic refused) at the default threshold.
SERVER_SEMANTIC_FLOORS = (0.90, 0.90)  # this server's FAQ, with the sentence model
HELDOUT_SEMANTIC_FLOORS = (0.85, 0.65)
# Without the model, paraphrases in other words mostly share no content word with their entry:
# lexical-only is held to refusing what it does not know, and to answering some.
HELDOUT_LEXICAL_FLOORS = (0.33, 0.95)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    # CI installs the sentence model: its absence is a failure, not a reason to skip.
    assert semantic_available(), "install the sentence model: chatbot model install"
    model = Embedder()
    model.load()
    return model


async def figures(
    label: str, sets: list[QuestionSet], embedder: Embedder | None, floors: tuple[float, float]
) -> Tally:
    tally = Tally.of(await answers(sets, embedder), DEFAULT_THRESHOLD)
    print(f"\n{tally.report(label)}")
    assert tally.right_share >= floors[0], tally.report(label)
    assert tally.refused_share >= floors[1], tally.report(label)
    return tally


def test_the_question_sets_are_big_enough_and_consistent() -> None:
    tuning, heldout = tuning_sets(), heldout_sets()
    for question_set in [*tuning, *heldout]:
        ids = [entry["id"] for entry in question_set.entries]
        assert len(set(ids)) == len(ids), question_set.name
        assert {entry for _, entry in question_set.paraphrases} == set(ids), question_set.name
        own = {entry["question"].lower() for entry in question_set.entries}
        assert not any(question.lower() in own for question, _ in question_set.paraphrases)
    assert sum(len(s.paraphrases) for s in heldout) >= 100
    assert sum(len(s.off_topic) for s in heldout) >= 60
    assert len(heldout) >= 4
    # Held-out paraphrases are new. (An off-topic question may recur: "what are the symptoms
    # of the flu?" is off topic for this server and for a dental clinic alike.)
    tuned = {q.lower() for s in tuning for q, _ in s.paraphrases}
    assert not tuned & {q.lower() for s in heldout for q, _ in s.paraphrases}


async def test_this_servers_faq_with_the_sentence_model(embedder: Embedder) -> None:
    [server] = [s for s in tuning_sets() if s.name == "server"]
    await figures(
        "tuning, this server's FAQ, with the model", [server], embedder, SERVER_SEMANTIC_FLOORS
    )


async def test_heldout_questions_with_the_sentence_model(embedder: Embedder) -> None:
    await figures("held-out, with the model", heldout_sets(), embedder, HELDOUT_SEMANTIC_FLOORS)


async def test_heldout_questions_lexical_only() -> None:
    await figures("held-out, lexical-only", heldout_sets(), None, HELDOUT_LEXICAL_FLOORS)


@pytest.mark.parametrize("question", ["", "   ", "?!"])
async def test_empty_questions_get_the_fallback(question: str) -> None:
    index = KnowledgeIndex.build([qa_passage("a", "What is the price?", "Free.")])
    brain = KnowledgeBrain(fallback_message=FALLBACK)
    reply = brain.reply(BrainRequest("Demo", question, knowledge=index))
    assert await reply.collect() == FALLBACK
    assert reply.handoff
