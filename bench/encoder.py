"""Benchmark: the sentence model, as the server uses it through `Embedder`.

Prints the model's load time, the process's RSS after loading, a short question's embedding
time (p50 and p99, wall clock and CPU) and passages per second in batches of 32, one at a time.

    .venv/bin/python bench/encoder.py [--questions 300] [--passages 320]

It uses only `chatbot.retrieval.embedder.Embedder`, so running it from a checkout of an older
commit measures that commit's embedder the same way.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

QUESTIONS = [
    "when are you open?",
    "how do I get my money back?",
    "what is the weather tomorrow in Berlin?",
    "can I pay by card?",
    "how do I embed the widget on my site",
]
DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "knowledge_base.json"


def _rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--passages", type=int, default=320)
    args = parser.parse_args()

    started = time.perf_counter()
    from chatbot.retrieval.embedder import Embedder

    embedder = Embedder()
    embedder.load()
    print(f"model load (import included): {time.perf_counter() - started:.2f} s")
    print(f"RSS after load: {_rss_mb():.0f} MB")

    walls, cpus = [], []
    for index in range(args.questions):
        question = QUESTIONS[index % len(QUESTIONS)]
        wall, cpu = time.perf_counter(), time.process_time()
        embedder.embed([question])
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    print(
        f"question ({args.questions}): wall p50 {_percentile(walls, 0.5):.1f} ms, "
        f"p99 {_percentile(walls, 0.99):.1f} ms; CPU p50 {_percentile(cpus, 0.5):.1f} ms, "
        f"p99 {_percentile(cpus, 0.99):.1f} ms"
    )

    entries = json.loads(DATA.read_text("utf-8"))
    texts = [f"{entry['question']} {entry['answer']}" for entry in entries]
    passages = (texts * (args.passages // len(texts) + 1))[: args.passages]
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(passages), 32):
        embedder.embed(passages[start : start + 32])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"passages ({len(passages)}, batches of 32, {len(texts)} distinct, 43-142 tokens): "
        f"{len(passages) / wall:.0f}/s wall, {len(passages) / cpu:.0f}/s of CPU"
    )
    print(f"RSS at the end: {_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
