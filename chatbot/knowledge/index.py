"""Each chatbot's knowledge index: built lazily in a worker thread, kept per process, rebuilt
when that chatbot's knowledge changes on any instance.

Freshness: a fingerprint of the chatbot's entries (count and latest change) is kept in the
app's cache (shared through Redis when several instances run). Every knowledge write deletes
it, so the next question on any instance reads the new fingerprint from the database, finds
its index stale and rebuilds it. Without Redis the fingerprint expires after a few seconds,
so that writes by another process (`chatbot knowledge import`) are seen soon too. A lookup
racing a write may put the old fingerprint back; the ttl bounds how long that can last.

Latency: embedding a passage costs milliseconds, so a big upload (hundreds of passages) would
hold the next question for seconds. When more than `inline_embeddings` passages lack one, the
index is built by wording alone at once and rebuilt with meaning in the background, embedding
a batch at a time so that other chatbots' questions are not held behind it.

The sentence model takes seconds to load. It starts loading in the background as soon as any
knowledge exists (when the app starts, or after the first write), so that the first question
does not wait for it; a process without knowledge never loads it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import suppress

from aiohttp import web
from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot import keys
from chatbot.backends.cache import Cache
from chatbot.health.probes import describe_exception
from chatbot.knowledge.drafts import searchable
from chatbot.knowledge.parse_pool import parse_pool_context
from chatbot.knowledge.repository import (
    StoredPassage,
    any_knowledge,
    knowledge_fingerprint,
    load_passages,
)
from chatbot.retrieval.embedder import Embedder, TextEmbedding, create_embedder
from chatbot.retrieval.index import KnowledgeIndex, build_index
from chatbot.storage.schema import knowledge_passages

log = logging.getLogger(__name__)

FINGERPRINT_TTL_SECONDS = 15.0
MAX_INDEXES = 128  # per process; the least recently used are dropped beyond it
CONCURRENT_BUILDS = 2  # index builds are CPU-bound: more would only queue in the threads
INLINE_EMBEDDINGS = 256  # about 2 s of embedding: more are computed in the background
EMBEDDING_BATCH = 32  # passages per embedding call: the model is shared, one call at a time


def fingerprint_key(chatbot_id: str) -> str:
    return f"knowledge:fingerprint:{chatbot_id}"


class KnowledgeIndexes:
    """The process's built indexes by chatbot, each with the fingerprint it was built from."""

    def __init__(
        self,
        engine: AsyncEngine,
        cache: Cache,
        embedder: Embedder | None,
        *,
        capacity: int = MAX_INDEXES,
        inline_embeddings: int = INLINE_EMBEDDINGS,
    ) -> None:
        self.engine = engine
        self.cache = cache
        self.embedder = embedder
        self._capacity = capacity
        self._inline_embeddings = inline_embeddings
        self._built: OrderedDict[str, tuple[str, KnowledgeIndex]] = OrderedDict()
        self._building: dict[tuple[str, str], asyncio.Task[KnowledgeIndex]] = {}
        self._build_slots = asyncio.Semaphore(CONCURRENT_BUILDS)
        self._embedding: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._embedding_slot = asyncio.Semaphore(1)  # background work leaves room for questions
        self._model_loading: asyncio.Task[None] | None = None

    async def fingerprint(self, chatbot_id: str) -> str:
        """The chatbot's current knowledge fingerprint, from the cache or the database."""
        key = fingerprint_key(chatbot_id)
        cached = await self.cache.get(key)
        if cached is not None:
            return cached.decode()
        fingerprint = await knowledge_fingerprint(self.engine, chatbot_id)
        await self.cache.set(key, fingerprint.encode(), FINGERPRINT_TTL_SECONDS)
        return fingerprint

    async def get(self, chatbot_id: str) -> KnowledgeIndex:
        """The chatbot's index, built (once, however many ask at the same time) when stale."""
        fingerprint = await self.fingerprint(chatbot_id)
        built = self._built.get(chatbot_id)
        if built is not None and built[0] == fingerprint:
            self._built.move_to_end(chatbot_id)
            return built[1]
        task = self._building.get((chatbot_id, fingerprint))
        if task is None:
            task = asyncio.create_task(
                self._build(chatbot_id, fingerprint), name=f"knowledge-index-{chatbot_id}"
            )
            self._building[(chatbot_id, fingerprint)] = task
            task.add_done_callback(lambda _: self._building.pop((chatbot_id, fingerprint), None))
        # Shielded: a visitor who leaves does not cancel the build that others wait for.
        return await asyncio.shield(task)

    async def changed(self, chatbot_id: str) -> None:
        """Called after a write to the chatbot's knowledge: every instance rebuilds on next use."""
        self._built.pop(chatbot_id, None)
        await self.cache.delete(fingerprint_key(chatbot_id))
        self.load_model_when_needed()

    def load_model_when_needed(self) -> asyncio.Task[None] | None:
        """Load the sentence model in the background if any knowledge exists and it is not yet.

        Returns the background load (the one already running, if any), or None when there is
        nothing to load.
        """
        if self.embedder is None or self.embedder.loaded:
            return None
        if self._model_loading is None:
            task = asyncio.create_task(self._load_model(self.embedder), name="sentence-model")
            task.add_done_callback(lambda _: setattr(self, "_model_loading", None))
            self._model_loading = task
        return self._model_loading

    async def _load_model(self, embedder: Embedder) -> None:
        try:
            if await any_knowledge(self.engine):
                await embedder.aload()
        except Exception as error:  # the first question that needs the model tries again
            log.warning(
                "could not load the sentence model ahead of questions (%s): "
                "the first question will load it",
                describe_exception(error),
            )

    async def close(self) -> None:
        tasks = [*self._building.values(), *self._embedding.values()]
        if self._model_loading is not None:
            tasks.append(self._model_loading)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
        self._built.clear()

    async def _build(self, chatbot_id: str, fingerprint: str) -> KnowledgeIndex:
        async with self._build_slots:
            # Passages are read after the fingerprint, so they are at least as new as it says.
            stored = await load_passages(self.engine, chatbot_id)
            missing = sum(1 for passage in stored if passage.embedding is None)
            if self.embedder is not None and missing > self._inline_embeddings:
                index = await build_index([searchable(p) for p in stored], None)
                self._embed_later(chatbot_id, fingerprint)
            else:
                index = await self._full_index(stored)
        self._remember(chatbot_id, fingerprint, index)
        log.debug("built the knowledge index of chatbot %s: %d passages", chatbot_id, len(index))
        return index

    async def _full_index(self, stored: Sequence[StoredPassage]) -> KnowledgeIndex:
        passages = [searchable(p) for p in stored]
        if self.embedder is not None:
            embeddings = await self._embeddings(stored)
            passages = [
                dataclasses.replace(passage, embedding=embedding)
                for passage, embedding in zip(passages, embeddings, strict=True)
            ]
        return await build_index(passages, self.embedder)

    def _remember(self, chatbot_id: str, fingerprint: str, index: KnowledgeIndex) -> None:
        self._built[chatbot_id] = (fingerprint, index)
        self._built.move_to_end(chatbot_id)
        while len(self._built) > self._capacity:
            self._built.popitem(last=False)

    def _embed_later(self, chatbot_id: str, fingerprint: str) -> None:
        """Embed the passages in the background, then serve the index that matches by meaning."""
        key = (chatbot_id, fingerprint)
        if key in self._embedding:
            return
        task = asyncio.create_task(
            self._complete(chatbot_id, fingerprint),
            name=f"knowledge-embeddings-{chatbot_id}",
        )
        self._embedding[key] = task
        task.add_done_callback(lambda _: self._embedding.pop(key, None))

    async def _complete(self, chatbot_id: str, fingerprint: str) -> None:
        try:
            async with self._embedding_slot:
                # Read again: an earlier background run may have stored some embeddings since.
                index = await self._full_index(await load_passages(self.engine, chatbot_id))
        except Exception:  # the wording-only index keeps serving; the next build tries again
            log.exception("could not embed the knowledge of chatbot %s", chatbot_id)
            return
        built = self._built.get(chatbot_id)
        # Only if nothing changed meanwhile: a newer index must not be replaced by an older one.
        if built is not None and built[0] == fingerprint:
            self._remember(chatbot_id, fingerprint, index)
            log.debug("the knowledge index of chatbot %s now matches by meaning", chatbot_id)

    async def _embeddings(self, stored: Sequence[StoredPassage]) -> list[TextEmbedding | None]:
        """Stored embeddings, with the missing ones computed once and saved for next time."""
        assert self.embedder is not None
        known = [
            TextEmbedding.from_bytes(p.embedding) if p.embedding is not None else None
            for p in stored
        ]
        missing = [position for position, item in enumerate(known) if item is None]
        if not missing:
            return known
        computed: list[TextEmbedding] = []
        for start in range(0, len(missing), EMBEDDING_BATCH):
            batch = [stored[position].text for position in missing[start : start + EMBEDDING_BATCH]]
            computed += await asyncio.to_thread(self.embedder.embed, batch)
        for position, item in zip(missing, computed, strict=True):
            known[position] = item
        statement = (
            update(knowledge_passages)
            .where(knowledge_passages.c.id == bindparam("passage_id"))
            .values(embedding=bindparam("embedding"))
        )
        rows = [
            {"passage_id": stored[position].id, "embedding": item.to_bytes()}
            for position, item in zip(missing, computed, strict=True)
        ]
        async with self.engine.begin() as connection:
            await connection.execute(statement, rows)
        return known


KNOWLEDGE_INDEXES = web.AppKey("knowledge_indexes", KnowledgeIndexes)


async def knowledge_index(app: web.Application, chatbot_id: str) -> KnowledgeIndex:
    """The chatbot's knowledge index, fresh after any change on any instance."""
    return await app[KNOWLEDGE_INDEXES].get(chatbot_id)


async def knowledge_changed(app: web.Application, chatbot_id: str) -> None:
    """Mark the chatbot's index stale on every instance (after its knowledge is written)."""
    await app[KNOWLEDGE_INDEXES].changed(chatbot_id)


@functools.cache
def process_embedder() -> Embedder | None:
    """The sentence model of this process, shared by its apps: it loads once (seconds, ~100 MB)."""
    return create_embedder(enabled=True)


async def knowledge_context(app: web.Application) -> AsyncIterator[None]:
    """Create the app's index holder (after the resources) and stop its builds at exit."""
    settings = app[keys.SETTINGS]
    embedder = process_embedder() if settings.brains.semantic else None
    indexes = KnowledgeIndexes(app[keys.ENGINE], app[keys.CACHE], embedder)
    app[KNOWLEDGE_INDEXES] = indexes
    indexes.load_model_when_needed()
    yield
    await indexes.close()


def setup_knowledge(app: web.Application) -> None:
    """Open the knowledge index holder and the upload parse pool with the app."""
    app.cleanup_ctx.append(knowledge_context)
    app.cleanup_ctx.append(parse_pool_context)
