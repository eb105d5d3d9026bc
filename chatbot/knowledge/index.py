"""Each chatbot's knowledge index: built once per process, then kept up to date in place when
that chatbot's knowledge changes on any instance.

Freshness: a fingerprint of the chatbot's entries (count and latest change) is kept in the
app's cache (shared through Redis when several instances run). Every knowledge write deletes
it, so the next question on any instance reads the new fingerprint from the database and finds
its index stale. Without Redis the fingerprint expires after a few seconds, so that writes by
another process (`chatbot knowledge import`) are seen soon too. A lookup racing a write may put
the old fingerprint back; the ttl bounds how long that can last.

Updates: each index remembers when every entry it holds last changed (`updated_at`). A stale
index is compared with the database's current list of (entry, updated_at): the entries that
are new, changed or gone are replaced in the index, their passages read from storage with
their stored embeddings; nothing else is tokenized or embedded again. Comparing states rather
than replaying a log of changes cannot miss a write committed out of order, on any number of
instances. A full build happens only for a chatbot this process has no index of yet, or for a
change too big (`INCREMENTAL_ENTRIES`) to be worth applying entry by entry.

Latency: embedding a passage costs milliseconds, so a big upload (hundreds of passages) would
hold the next question for seconds. When more than `inline_embeddings` passages lack one, the
index is built by wording alone at once and rebuilt with meaning in the background, embedding
a batch at a time so that other chatbots' questions are not held behind it.

The sentence model takes a moment to load. It starts loading in the background as soon as any
knowledge exists (when the app starts, or after the first write), so that the first question
does not wait for it; a process without knowledge never loads it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot import keys
from chatbot.backends.cache import Cache
from chatbot.config import BrainSettings
from chatbot.health.probes import describe_exception
from chatbot.knowledge.drafts import searchable
from chatbot.knowledge.embeddings import embedded_passages, missing_embeddings
from chatbot.knowledge.parse_pool import parse_pool_context
from chatbot.knowledge.repository import (
    any_knowledge,
    entry_versions,
    knowledge_fingerprint,
    load_passages,
)
from chatbot.retrieval.embedder import Embedder, create_embedder
from chatbot.retrieval.index import KnowledgeIndex, build_index

log = logging.getLogger(__name__)

FINGERPRINT_TTL_SECONDS = 15.0
MAX_INDEXES = 128  # per process; the least recently used are dropped beyond it
CONCURRENT_BUILDS = 2  # index builds are CPU-bound: more would only queue in the threads
INLINE_EMBEDDINGS = 256  # about 2 s of embedding: more are computed in the background
# Changed entries past which one full build (no embedding: they are stored) beats applying them.
INCREMENTAL_ENTRIES = 1_000


def fingerprint_key(chatbot_id: str) -> str:
    return f"knowledge:fingerprint:{chatbot_id}"


@dataclass(slots=True)
class _Built:
    """An index, the fingerprint it is current for, and each entry's version in it."""

    fingerprint: str
    index: KnowledgeIndex
    versions: dict[str, datetime]


class KnowledgeIndexes:
    """The process's indexes by chatbot, each with the fingerprint it is current for."""

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
        self.builds = 0  # full builds; incremental updates count in each index's `updates`
        self._capacity = capacity
        self._inline_embeddings = inline_embeddings
        self._built: OrderedDict[str, _Built] = OrderedDict()
        # One refresh per chatbot at a time (it may change its index in place), by fingerprint.
        self._refreshing: dict[str, tuple[str, asyncio.Task[KnowledgeIndex]]] = {}
        self._build_slots = asyncio.Semaphore(CONCURRENT_BUILDS)
        self._embedding: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._embedding_slot = asyncio.Semaphore(1)  # background work leaves room for questions
        self._model_loading: asyncio.Task[None] | None = None

    def __contains__(self, chatbot_id: object) -> bool:
        """Whether this process holds an index of the chatbot."""
        return chatbot_id in self._built

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
        """The chatbot's index, brought up to date (once, however many ask) when stale."""
        fingerprint = await self.fingerprint(chatbot_id)
        while True:
            built = self._built.get(chatbot_id)
            if built is not None and built.fingerprint == fingerprint:
                self._built.move_to_end(chatbot_id)
                return built.index
            running = self._refreshing.get(chatbot_id)
            if running is None:
                task = asyncio.create_task(
                    self._refresh(chatbot_id, fingerprint), name=f"knowledge-index-{chatbot_id}"
                )
                running = self._refreshing[chatbot_id] = (fingerprint, task)
                task.add_done_callback(lambda _: self._refreshing.pop(chatbot_id, None))
            # Shielded: a visitor who leaves does not cancel the work others wait for.
            index = await asyncio.shield(running[1])
            if running[0] == fingerprint:
                return index

    async def changed(self, chatbot_id: str) -> None:
        """Called after a write to the chatbot's knowledge: every instance updates on next use."""
        await self.cache.delete(fingerprint_key(chatbot_id))
        self.load_model_when_needed()

    async def removed(self, chatbot_id: str) -> None:
        """Called when the chatbot is deleted: its index is freed here; elsewhere it ages out."""
        self._built.pop(chatbot_id, None)
        await self.cache.delete(fingerprint_key(chatbot_id))

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
        tasks: list[asyncio.Task[Any]] = [task for _, task in self._refreshing.values()]
        tasks += self._embedding.values()
        if self._model_loading is not None:
            tasks.append(self._model_loading)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
        self._built.clear()

    async def _refresh(self, chatbot_id: str, fingerprint: str) -> KnowledgeIndex:
        async with self._build_slots:
            built = self._built.get(chatbot_id)
            # Read before the passages, so that the passages are at least as new as these.
            versions = await entry_versions(self.engine, chatbot_id)
            if built is not None and await self._update(chatbot_id, built, versions):
                index = built.index
                log.debug("updated the knowledge index of chatbot %s in place", chatbot_id)
            else:
                index = await self._build(chatbot_id, fingerprint)
        current = self._built.get(chatbot_id)
        # A background build with meaning may have taken this index's place meanwhile: it
        # stays, and the next question brings it up to date from its own versions.
        if current is None or current is built or current.index is index:
            self._remember(chatbot_id, _Built(fingerprint, index, versions))
        return index

    async def _update(self, chatbot_id: str, built: _Built, versions: dict[str, datetime]) -> bool:
        """Apply the entries changed since the index's versions; False if a build is better."""
        changed = [entry for entry, at in versions.items() if built.versions.get(entry) != at]
        gone = [entry for entry in built.versions if entry not in versions]
        if len(changed) + len(gone) > INCREMENTAL_ENTRIES:
            return False
        stored = await load_passages(self.engine, chatbot_id, changed) if changed else []
        if built.index.semantic and self.embedder is not None:
            if missing_embeddings(stored) > self._inline_embeddings:
                return False
            passages = await embedded_passages(self.engine, self.embedder, stored)
        else:
            passages = [searchable(p) for p in stored]
        await asyncio.to_thread(built.index.update, [*gone, *changed], passages)
        return True

    async def _build(self, chatbot_id: str, fingerprint: str) -> KnowledgeIndex:
        stored = await load_passages(self.engine, chatbot_id)
        if self.embedder is None:
            index = await build_index([searchable(p) for p in stored], None)
        elif missing_embeddings(stored) > self._inline_embeddings:
            index = await build_index([searchable(p) for p in stored], None)
            self._embed_later(chatbot_id, fingerprint)
        else:
            passages = await embedded_passages(self.engine, self.embedder, stored)
            index = await build_index(passages, self.embedder)
        self.builds += 1
        log.debug("built the knowledge index of chatbot %s: %d passages", chatbot_id, len(index))
        return index

    def _remember(self, chatbot_id: str, built: _Built) -> None:
        self._built[chatbot_id] = built
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
        assert self.embedder is not None
        try:
            async with self._embedding_slot:
                versions = await entry_versions(self.engine, chatbot_id)
                # Read again: an earlier background run may have stored some embeddings since.
                stored = await load_passages(self.engine, chatbot_id)
                passages = await embedded_passages(self.engine, self.embedder, stored)
                index = await build_index(passages, self.embedder)
        except Exception:  # the wording-only index keeps serving; the next build tries again
            log.exception("could not embed the knowledge of chatbot %s", chatbot_id)
            return
        self.builds += 1
        # A refresh running now may be changing the wording-only index: it goes first, and
        # any change since `versions` is applied to this index at the next question.
        while (running := self._refreshing.get(chatbot_id)) is not None:
            with suppress(Exception):
                await asyncio.shield(running[1])
        built = self._built.get(chatbot_id)
        if built is not None and not built.index.semantic:
            self._remember(chatbot_id, _Built(fingerprint, index, versions))
            log.debug("the knowledge index of chatbot %s now matches by meaning", chatbot_id)


KNOWLEDGE_INDEXES = web.AppKey("knowledge_indexes", KnowledgeIndexes)


async def knowledge_index(app: web.Application, chatbot_id: str) -> KnowledgeIndex:
    """The chatbot's knowledge index, fresh after any change on any instance."""
    return await app[KNOWLEDGE_INDEXES].get(chatbot_id)


async def knowledge_changed(app: web.Application, chatbot_id: str) -> None:
    """Mark the chatbot's index stale on every instance (after its knowledge is written)."""
    await app[KNOWLEDGE_INDEXES].changed(chatbot_id)


async def knowledge_removed(app: web.Application, chatbot_id: str) -> None:
    """Free the deleted chatbot's index (other instances drop theirs as least recently used)."""
    await app[KNOWLEDGE_INDEXES].removed(chatbot_id)


@functools.cache
def process_embedder(model_dir: str = "") -> Embedder | None:
    """The sentence model of this process, shared by its apps: its weights load once.

    Blocking (it checks the model files): call it from a worker thread.
    """
    return create_embedder(enabled=True, model_dir=model_dir or None)


async def configured_embedder(brains: BrainSettings) -> Embedder | None:
    """The process's sentence model as the settings ask for it, or None for keyword search."""
    if not brains.semantic:
        return None
    return await asyncio.to_thread(process_embedder, brains.model_dir)


async def knowledge_context(app: web.Application) -> AsyncIterator[None]:
    """Create the app's index holder (after the resources) and stop its builds at exit."""
    settings = app[keys.SETTINGS]
    embedder = await configured_embedder(settings.brains)
    indexes = KnowledgeIndexes(app[keys.ENGINE], app[keys.CACHE], embedder)
    app[KNOWLEDGE_INDEXES] = indexes
    indexes.load_model_when_needed()
    yield
    await indexes.close()


def setup_knowledge(app: web.Application) -> None:
    """Open the knowledge index holder and the upload parse pool with the app."""
    app.cleanup_ctx.append(knowledge_context)
    app.cleanup_ctx.append(parse_pool_context)
