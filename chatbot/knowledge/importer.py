"""`chatbot knowledge import`: files read, split, embedded and stored, with a progress bar."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from redis.asyncio import Redis
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.backends.cache import RedisCache
from chatbot.chatbots.repository import load_chatbot
from chatbot.config import Settings, mask_url
from chatbot.health.probes import describe_exception, probe_database
from chatbot.knowledge.drafts import uploaded_document
from chatbot.knowledge.index import configured_embedder, fingerprint_key
from chatbot.knowledge.parsing import DocumentTooLong, UnsupportedDocument, parse_document
from chatbot.knowledge.repository import EntryDraft, KnowledgeEntry, add_entries
from chatbot.knowledge.schemas import MAX_CONTENT_LENGTH
from chatbot.retrieval.embedder import Embedder
from chatbot.storage.engine import create_engine

EMBED_BATCH = 64


class ImportFailed(Exception):
    """The import cannot go on; the message says why and what to do. Nothing was stored."""


def _read(path: Path, max_bytes: int) -> EntryDraft:
    """One file as a document entry (blocking: run in a worker thread)."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ImportFailed(f"{path}: not a file")
        if size > max_bytes:
            raise ImportFailed(
                f"{path}: {size:,} bytes is over the {max_bytes:,} byte limit: split the file, "
                "or raise CHATBOT_MAX_UPLOAD_BYTES"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFailed(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        passages = parse_document(data, filename=path.name, max_text_chars=MAX_CONTENT_LENGTH)
        return uploaded_document(path.name, passages)
    except (UnsupportedDocument, DocumentTooLong) as exc:
        raise ImportFailed(f"{path}: {exc}") from None


class RateColumn(ProgressColumn):
    """Items done per second (files read, passages embedded), the final rate once finished."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f}/s" if speed else "", style="progress.data.speed")


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        console=console,
    )


async def _read_all(paths: Sequence[Path], max_bytes: int, progress: Progress) -> list[EntryDraft]:
    task = progress.add_task("Reading files", total=len(paths))
    drafts, problems = [], []
    for path in paths:
        try:
            drafts.append(await asyncio.to_thread(_read, path, max_bytes))
        except ImportFailed as exc:
            problems.append(str(exc))
        progress.advance(task)
    if problems:
        raise ImportFailed(
            "nothing was imported; fix or leave out these files:\n  " + "\n  ".join(problems)
        )
    return drafts


async def _embed(drafts: list[EntryDraft], embedder: Embedder, progress: Progress) -> None:
    """Embed every passage now, so the server's first answer does not wait for it."""
    passages = [(draft, p) for draft in drafts for p in draft.passages]
    task = progress.add_task("Embedding passages", total=len(passages))
    stored: list[bytes] = []  # the compact stored form at once: 50,000 passages' vectors add up
    for start in range(0, len(passages), EMBED_BATCH):
        batch = [passage.text for _, passage in passages[start : start + EMBED_BATCH]]
        stored += [item.to_bytes() for item in await asyncio.to_thread(embedder.embed, batch)]
        progress.advance(task, len(batch))
    embedded = iter(stored)
    for position, draft in enumerate(drafts):
        drafts[position] = dataclasses.replace(
            draft,
            passages=[dataclasses.replace(p, embedding=next(embedded)) for p in draft.passages],
        )


async def _forget_fingerprint(settings: Settings, chatbot_id: str) -> None:
    """Tell running servers sharing Redis that the knowledge changed (others see it within 15s)."""
    if not settings.redis_enabled:
        return
    client = Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        await RedisCache(client, f"{settings.redis_prefix}:cache:").delete(
            fingerprint_key(chatbot_id)
        )
    finally:
        await client.aclose()


async def _store(
    engine: AsyncEngine, settings: Settings, slug: str, paths: Sequence[Path], replace: bool
) -> list[KnowledgeEntry]:
    problem = await probe_database(engine, settings.startup_timeout_seconds)
    if problem is not None:
        raise ImportFailed(
            f"cannot reach the database at {mask_url(settings.database_url)} ({problem}): "
            "start it or fix CHATBOT_DATABASE_URL"
        )
    chatbot = await load_chatbot(engine, slug=slug)
    if chatbot is None:
        raise ImportFailed(
            f"no chatbot has the slug {slug!r}: check the slug, or create the chatbot first"
        )
    with _progress(Console(stderr=True)) as progress:
        drafts = await _read_all(paths, settings.max_upload_bytes, progress)
        embedder = await configured_embedder(settings.brains)
        if embedder is not None:
            await _embed(drafts, embedder, progress)
        task = progress.add_task("Storing", total=1)
        replaced = {path.name for path in paths} if replace else set()
        entries = await add_entries(engine, chatbot.id, drafts, replace_sources=replaced)
        progress.advance(task)
    await _forget_fingerprint(settings, chatbot.id)
    return entries


async def import_files(
    settings: Settings, slug: str, paths: Sequence[Path], *, replace: bool = False
) -> list[KnowledgeEntry]:
    """Import the files into the chatbot's knowledge, all or none; raises ImportFailed."""
    engine = create_engine(settings.database_url, connect_timeout=settings.startup_timeout_seconds)
    try:
        return await _store(engine, settings, slug, paths, replace)
    except SQLAlchemyError as exc:
        raise ImportFailed(
            f"the database at {mask_url(settings.database_url)} failed "
            f"({describe_exception(exc)}): run `chatbot check`"
        ) from None
    finally:
        await engine.dispose()


def run_import(settings: Settings, slug: str, paths: Sequence[Path], *, replace: bool) -> int:
    """The `chatbot knowledge import` command; returns the exit status."""
    try:
        entries = asyncio.run(import_files(settings, slug, paths, replace=replace))
    except ImportFailed as exc:
        print(f"chatbot: {exc}", file=sys.stderr)
        return 1
    passages = sum(entry.passages for entry in entries)
    print(f"imported {len(entries)} documents ({passages} passages) into chatbot {slug}")
    return 0
