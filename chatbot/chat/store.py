"""The message store: one writer task per process commits pending messages in batches.

Each write waits for the commit of the batch that holds it; nothing is acknowledged before.
Per conversation, seqs come from `conversations.last_seq`, incremented by an UPDATE ... RETURNING
in the batch's transaction, so that two instances writing to one conversation never collide.
A repeated `(conversation_id, client_id)` stores nothing and answers with the stored message.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.chat.store_batch import ConversationGone, Stored, Write, commit_batch
from chatbot.chat.store_sqlite import commit_batch_sqlite
from chatbot.storage.engine import _set_sqlite_pragmas

log = logging.getLogger(__name__)

__all__ = ["ConversationGone", "MessageStore", "StoreUnavailable", "Stored", "Write"]

Outcome = Stored | BaseException


class StoreUnavailable(Exception):
    """The message could not be stored (database down or shutting down); send it again later."""


@dataclass(slots=True)
class StoreStats:
    """Counters for logs and benchmarks: messages written and transactions that wrote them."""

    batches: int = 0
    writes: int = 0


@dataclass(slots=True)
class _Pending:
    write: Write
    future: asyncio.Future[Stored] = field(repr=False)


def _is_outage(exc: BaseException) -> bool:
    """A lost or unreachable database, as opposed to a problem with one batch's content."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(
        exc,
        OperationalError | InterfaceError | OSError | TimeoutError | sqlite3.OperationalError,
    )


# Seconds between two checkpoints of the WAL, run beside the writer rather than in a commit.
_CHECKPOINT_INTERVAL = 0.5


def _set_writer_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # A checkpoint copies the WAL back with an fsync; done by a commit (every 1000 pages, a few
    # batches) it stalls every message of the batch. Checkpoints run in their own thread
    # instead; this automatic one (~80 MiB of WAL) is only a safety net should they stall.
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=20000")


class _Committer:
    """Runs one batch's transaction: on SQLite with the raw driver in a thread of its own (the
    async driver costs an event-loop round trip per statement); natively for PostgreSQL."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sync: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        if engine.dialect.name == "sqlite":
            self._sync = create_engine(engine.url.set(drivername="sqlite"), pool_size=1)
            event.listen(self._sync, "connect", _set_sqlite_pragmas)
            event.listen(self._sync, "connect", _set_writer_pragmas)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="chat-store")
            self._checkpointer = create_engine(engine.url.set(drivername="sqlite"), pool_size=1)
            event.listen(self._checkpointer, "connect", _set_sqlite_pragmas)
            self._checkpoint_thread = ThreadPoolExecutor(1, thread_name_prefix="chat-checkpoint")
        self._checkpoint: asyncio.Future[None] | None = None
        self._checkpoint_at = 0.0

    async def commit(self, writes: Sequence[Write]) -> list[Stored | ConversationGone]:
        if self._thread is not None:
            loop = asyncio.get_running_loop()
            try:
                return await loop.run_in_executor(self._thread, self._commit_in_thread, writes)
            finally:
                self._maybe_checkpoint(loop)
        async with self._engine.begin() as connection:
            return await connection.run_sync(commit_batch, writes)

    def _commit_in_thread(self, writes: Sequence[Write]) -> list[Stored | ConversationGone]:
        assert self._sync is not None
        connection = self._sync.raw_connection()
        try:
            driver = connection.driver_connection
            assert isinstance(driver, sqlite3.Connection)
            return commit_batch_sqlite(driver, writes)
        finally:
            connection.close()

    def _maybe_checkpoint(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        if now - self._checkpoint_at < _CHECKPOINT_INTERVAL:
            return
        if self._checkpoint is not None and not self._checkpoint.done():
            return
        self._checkpoint_at = now
        self._checkpoint = loop.run_in_executor(self._checkpoint_thread, self._checkpoint_wal)

    def _checkpoint_wal(self) -> None:
        # PASSIVE: copies what no reader still needs, without taking the writer's lock.
        try:
            connection = self._checkpointer.raw_connection()
            try:
                driver = connection.driver_connection
                assert isinstance(driver, sqlite3.Connection)
                driver.execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                connection.close()
        except Exception as exc:
            log.warning("chat store: WAL checkpoint failed (%s)", exc)

    def close(self) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=False, cancel_futures=True)
            self._checkpoint_thread.shutdown(wait=False, cancel_futures=True)
            self._checkpointer.dispose()
        if self._sync is not None:
            self._sync.dispose()


class MessageStore:
    """Group commit: up to `batch_max` writes per transaction, taken from a bounded queue."""

    def __init__(
        self, engine: AsyncEngine, *, batch_max: int, queue_size: int, timeout: float = 10.0
    ) -> None:
        self._committer = _Committer(engine)
        self._batch_max = batch_max
        self._timeout = timeout
        # None is the stop sentinel, queued by close() behind every pending write.
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue(maxsize=queue_size)
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.stats = StoreStats()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="chat-message-writer")

    async def close(self, drain_timeout: float = 5.0) -> None:
        """Commit what is queued (within `drain_timeout`), then stop the writer."""
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            try:
                async with asyncio.timeout(drain_timeout):
                    await self._queue.put(None)  # after everything queued before it
                    await asyncio.shield(task)
            except TimeoutError:
                log.warning("chat store: %d writes not committed at shutdown", self._queue.qsize())
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if pending is not None:
                _resolve(pending, StoreUnavailable("the server is shutting down"))
        self._committer.close()

    async def append(self, write: Write) -> Stored:
        """Store `write` and return the stored message once its transaction has committed."""
        if self._closing:
            raise StoreUnavailable("the server is shutting down")
        future: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(write, future))
        return await future

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._batch_max and not self._queue.empty():
                pending = self._queue.get_nowait()
                if pending is None:
                    stopping = True
                    break
                batch.append(pending)
            self.stats.batches += 1
            self.stats.writes += len(batch)
            try:
                await self._process(batch)
            except Exception:  # the writer must outlive any single batch
                log.exception("chat store: unexpected error writing a batch of %d", len(batch))
                _fail(batch, "the message could not be stored")

    async def _process(self, batch: list[_Pending]) -> None:
        leaders: dict[tuple[str, str], _Pending] = {}
        followers: list[tuple[_Pending, _Pending]] = []
        unique: list[_Pending] = []
        for pending in batch:
            key = pending.write.key
            if key is not None and key in leaders:
                followers.append((pending, leaders[key]))
                continue
            if key is not None:
                leaders[key] = pending
            unique.append(pending)
        try:
            async with asyncio.timeout(self._timeout):
                try:
                    results: list[Outcome] = list(
                        await self._committer.commit([p.write for p in unique])
                    )
                except Exception as exc:
                    if _is_outage(exc):
                        raise
                    # A race on client_id with another instance, or one bad row: isolate it.
                    log.info("chat store: batch of %d failed (%s); one by one", len(unique), exc)
                    results = [await self._commit_one(pending.write) for pending in unique]
        except Exception as exc:
            if not _is_outage(exc):
                raise
            log.warning("chat store: database unavailable (%s): %d writes refused", exc, len(batch))
            _fail(batch, "the database is unavailable")
            return
        outcome: dict[int, Outcome] = {}
        for pending, result in zip(unique, results, strict=True):
            outcome[id(pending)] = result
            _resolve(pending, result)
        for pending, leader in followers:
            first = outcome[id(leader)]
            _resolve(pending, replace(first, created=False) if isinstance(first, Stored) else first)

    async def _commit_one(self, write: Write) -> Outcome:
        for attempt in range(2):
            try:
                return (await self._committer.commit([write]))[0]
            except (IntegrityError, sqlite3.IntegrityError):
                if attempt:  # the duplicate check of the retry should have found it
                    return StoreUnavailable("the message could not be stored")
            except Exception as exc:
                if _is_outage(exc):
                    raise
                log.warning("chat store: write refused by the database: %s", exc)
                return StoreUnavailable("the message could not be stored")
        raise AssertionError("unreachable")


def _resolve(pending: _Pending, result: Outcome) -> None:
    if pending.future.done():  # the sender went away; the write stands all the same
        return
    if isinstance(result, BaseException):
        pending.future.set_exception(result)
    else:
        pending.future.set_result(result)


def _fail(batch: Sequence[_Pending], reason: str) -> None:
    for pending in batch:
        _resolve(pending, StoreUnavailable(reason))
