"""Question sets for the knowledge brain: knowledge bases, paraphrases of their entries, off-topic.

tests/data/ (this server's FAQ, and tests/data/tuning/: other businesses) is what the scoring
constants were chosen on; tests/data/heldout/ was written before and never tuned on. Shared by
tests/unit/test_knowledge_accuracy.py and bench/knowledge_calibration.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatbot.retrieval.embedder import Embedder
from chatbot.retrieval.index import build_index
from chatbot.retrieval.passages import qa_passage

DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class QuestionSet:
    """One chatbot's entries, paraphrases `(question, entry id)` and off-topic questions."""

    name: str
    entries: list[dict[str, str]]
    paraphrases: list[tuple[str, str]]
    off_topic: list[str]


@dataclass(frozen=True)
class Answer:
    """The best entry found for a question and its confidence; `expected` is None off topic."""

    question: str
    expected: str | None
    entry_id: str | None
    confidence: float


@dataclass(frozen=True)
class Tally:
    """What a threshold makes of a set of answers."""

    right: int
    wrong: int
    paraphrases: int
    refused: int
    off_topic: int

    @classmethod
    def of(cls, answers: Sequence[Answer], threshold: float) -> Tally:
        """Count as the knowledge brain decides: below the threshold, the fallback."""
        on_topic = [item for item in answers if item.expected is not None]
        given = [item for item in on_topic if item.confidence >= threshold]
        off = [item for item in answers if item.expected is None]
        return cls(
            right=sum(item.entry_id == item.expected for item in given),
            wrong=sum(item.entry_id != item.expected for item in given),
            paraphrases=len(on_topic),
            refused=sum(item.confidence < threshold for item in off),
            off_topic=len(off),
        )

    @property
    def right_share(self) -> float:
        return self.right / self.paraphrases

    @property
    def refused_share(self) -> float:
        return self.refused / self.off_topic

    def report(self, label: str) -> str:
        """One line with the figures."""
        return (
            f"{label}: paraphrases right {self.right}/{self.paraphrases} ({self.right_share:.1%}), "
            f"wrong {self.wrong}, off-topic refused {self.refused}/{self.off_topic} "
            f"({self.refused_share:.1%})"
        )


def _load(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))


def _business(path: Path) -> QuestionSet:
    data = _load(path)
    return QuestionSet(
        name=path.stem,
        entries=data["entries"],
        paraphrases=[(item["question"], item["entry"]) for item in data["paraphrases"]],
        off_topic=data["off_topic"],
    )


def tuning_sets() -> list[QuestionSet]:
    """The sets the scoring was tuned on: this server's FAQ, then other businesses'."""
    server = QuestionSet(
        name="server",
        entries=_load(DATA / "knowledge_base.json"),
        paraphrases=[
            (item["question"], item["entry"]) for item in _load(DATA / "paraphrases.json")
        ],
        off_topic=_load(DATA / "off_topic.json"),
    )
    return [server, *(_business(path) for path in sorted((DATA / "tuning").glob("*.json")))]


def heldout_sets() -> list[QuestionSet]:
    """The sets never tuned on."""
    return [_business(path) for path in sorted((DATA / "heldout").glob("*.json"))]


async def answers(sets: Sequence[QuestionSet], embedder: Embedder | None) -> list[Answer]:
    """Every question of the sets asked to its own chatbot's index: the best entry found."""
    found = []
    for question_set in sets:
        index = await build_index(
            [
                qa_passage(item["id"], item["question"], item["answer"])
                for item in question_set.entries
            ],
            embedder,
        )
        asked = [
            *question_set.paraphrases,
            *((question, None) for question in question_set.off_topic),
        ]
        for question, expected in asked:
            matches = await index.asearch(question, limit=1)
            best = matches[0] if matches else None
            found.append(
                Answer(
                    question=question,
                    expected=expected,
                    entry_id=best.passage.entry_id if best else None,
                    confidence=best.confidence if best else 0.0,
                )
            )
    return found
