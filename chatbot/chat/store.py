"""The message store: one writer per process commits waiting messages in batches (group commit).

Each write waits for the commit of the batch that holds it; nothing is acknowledged before.
Per conversation, seqs come from `conversations.last_seq`, incremented by an UPDATE ... RETURNING
in the batch's transaction, so that two instances writing to one conversation never collide.
A repeated `(conversation_id, client_id)` stores nothing and answers with the stored message.

Writes wait in one bounded inbox. The writer takes everything waiting (up to `batch_max`),
commits it in one transaction, and settles the writes on the event loop, once per batch:

- SQLite: a thread of its own runs the transaction on the raw `sqlite3` driver and takes the next
  batch as soon as a commit ends, without waiting for the event loop (which is busy sending the
  previous batch's answers): the database and the loop work side by side.
- PostgreSQL: a task on the event loop, through SQLAlchemy Core on asyncpg.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import Any, Protocol

from sqlalchemy import create_engine, event
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.chat.store_batch import ConversationGone, Stored, Write, commit_batch
from chatbot.chat.store_sqlite import commit_batch_sqlite
from chatbot.storage.engine import _set_sqlite_pragmas

log = logging.getLogger(__name__)

__all__ = ["ConversationGone", "MessageStore", "StoreUnavailable", "Stored", "Write"]

Outcome = Stored | BaseException
Committed = list[Stored | ConversationGone]

# Prepared statements kept by the writer's connection (the driver's default is 128).
_CACHED_STATEMENTS = 2048
# Seconds between two checkpoints of the SQLite WAL, run beside the writer rather than in a commit.
_CHECKPOINT_INTERVAL = 0.5


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
    future: asyncio.Future[Stored]


Settled = list[tuple[_Pending, Outcome]]


def _is_outage(exc: BaseException) -> bool:
    """A lost or unreachable database, as opposed to a problem with one batch's content."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(
        exc,
        OperationalError | InterfaceError | OSError | TimeoutError | sqlite3.OperationalError,
    )


@dataclass(slots=True)
class _Plan:
    """A batch split into the writes to commit and the repeats of a client_id within it."""

    unique: list[_Pending]
    repeats: list[tuple[_Pending, _Pending]]  # (repeat, the earlier write it repeats)

    @classmethod
    def of(cls, batch: Sequence[_Pending]) -> _Plan:
        first: dict[tuple[str, str], _Pending] = {}
        plan = cls([], [])
        for pending in batch:
            key = pending.write.key
            if key is not None:
                earlier = first.get(key)
                if earlier is not None:
                    plan.repeats.append((pending, earlier))
                    continue
                first[key] = pending
            plan.unique.append(pending)
        return plan

    @property
    def writes(self) -> list[Write]:
        return [pending.write for pending in self.unique]

    def settled(self, results: Sequence[Outcome]) -> Settled:
        """Each write with its outcome; a repeat gets its original's message, `created` False."""
        settled = list(zip(self.unique, results, strict=True))
        if self.repeats:
            outcome = {id(pending): result for pending, result in settled}
            for pending, earlier in self.repeats:
                first = outcome[id(earlier)]
                again = replace(first, created=False) if isinstance(first, Stored) else first
                settled.append((pending, again))
        return settled


def _failed(batch: Sequence[_Pending], reason: str) -> Settled:
    return [(pending, StoreUnavailable(reason)) for pending in batch]


def _unstored(batch: Sequence[_Pending], exc: Exception) -> Settled:
    """A batch that failed as a whole: refused, so that the senders retry with their ids."""
    if _is_outage(exc):
        log.warning("chat store: database unavailable (%s): %d writes refused", exc, len(batch))
        return _failed(batch, "the database is unavailable")
    log.error("chat store: a batch of %d failed", len(batch), exc_info=exc)
    return _failed(batch, "the message could not be stored")


class _Writer(Protocol):
    """Takes batches from the store's inbox, commits them, and settles them on the loop."""

    @property
    def running(self) -> bool: ...

    def start(self, loop: asyncio.AbstractEventLoop) -> None: ...

    def wake(self) -> None: ...

    async def stop(self, timeout: float) -> None: ...


class MessageStore:
    """Group commit: up to `batch_max` writes per transaction; at most `queue_size` waiting."""

    def __init__(
        self, engine: AsyncEngine, *, batch_max: int, queue_size: int, timeout: float = 10.0
    ) -> None:
        self._batch_max = batch_max
        self._inbox: deque[_Pending] = deque()
        # Accepted and not yet settled; at `queue_size`, senders wait for room.
        self._unsettled = 0
        self._queue_size = queue_size
        self._room = asyncio.Event()
        self._closing = False
        self.stats = StoreStats()
        self._writer: _Writer = (
            _SqliteWriter(engine, self)
            if engine.dialect.name == "sqlite"
            else _AsyncWriter(engine, self, timeout)
        )

    @property
    def running(self) -> bool:
        return self._writer.running

    async def start(self) -> None:
        self._writer.start(asyncio.get_running_loop())

    async def close(self, drain_timeout: float = 5.0) -> None:
        """Commit what is waiting (within `drain_timeout`), then stop the writer."""
        self._closing = True
        await self._writer.stop(drain_timeout)
        left = list(self._inbox)
        self._inbox.clear()
        if left:
            log.warning("chat store: %d writes not committed at shutdown", len(left))
            self.settle(_failed(left, "the server is shutting down"))

    async def append(self, write: Write) -> Stored:
        """Store `write` and return the stored message once its transaction has committed."""
        if self._closing:
            raise StoreUnavailable("the server is shutting down")
        while self._unsettled >= self._queue_size:
            self._room.clear()
            await self._room.wait()
        self._unsettled += 1
        future: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        self._inbox.append(_Pending(write, future))
        self._writer.wake()
        return await future

    def take_batch(self) -> list[_Pending]:
        """Up to `batch_max` waiting writes, oldest first (called by the writer, any thread)."""
        inbox = self._inbox
        batch: list[_Pending] = []
        with suppress(IndexError):  # another taker (close) may empty the inbox meanwhile
            while inbox and len(batch) < self._batch_max:
                batch.append(inbox.popleft())
        if batch:
            self.stats.batches += 1
            self.stats.writes += len(batch)
        return batch

    def settle(self, settled: Settled) -> None:
        """Answer each write's sender (on the event loop)."""
        self._unsettled -= len(settled)
        if not self._room.is_set():
            self._room.set()
        for pending, outcome in settled:
            future = pending.future
            if future.done():  # the sender went away; the write stands all the same
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)


def _set_writer_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # A checkpoint copies the WAL back with an fsync; done by a commit (every 1000 pages, a few
    # batches) it stalls every message of the batch. Checkpoints run in their own thread
    # instead; this automatic one (~80 MiB of WAL) is only a safety net should they stall.
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=20000")
    # The per-conversation index pages a batch touches stay in memory; reads need no syscall.
    dbapi_connection.execute("PRAGMA cache_size=-65536")
    dbapi_connection.execute("PRAGMA mmap_size=268435456")


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _SqliteWriter:
    """A thread that commits batch after batch on the raw driver while writes are waiting.

    The event loop only appends to the inbox, wakes the thread, and settles finished batches
    (one callback per batch). SQLite's own locking (busy_timeout) bounds how long a commit waits
    for another process.
    """

    def __init__(self, engine: AsyncEngine, store: MessageStore) -> None:
        url = engine.url.set(drivername="sqlite")
        self._store = store
        # Batch sizes vary, and each size is its own statement: keep them all prepared.
        self._engine = create_engine(
            url, pool_size=1, connect_args={"cached_statements": _CACHED_STATEMENTS}
        )
        event.listen(self._engine, "connect", _set_sqlite_pragmas)
        event.listen(self._engine, "connect", _set_writer_pragmas)
        self._checkpointer = create_engine(url, pool_size=1)
        event.listen(self._checkpointer, "connect", _set_sqlite_pragmas)
        self._checkpoints = ThreadPoolExecutor(1, thread_name_prefix="chat-checkpoint")
        self._checkpoint: Future[None] | None = None
        self._checkpoint_at = 0.0
        self._wakeup = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Future[None] | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._stopped = loop.create_future()
        self._thread = threading.Thread(target=self._run, name="chat-store", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        if not self._wakeup.is_set():
            self._wakeup.set()

    async def stop(self, timeout: float) -> None:
        self._stopping = True
        self._wakeup.set()
        if self._stopped is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._stopped), timeout)
            except TimeoutError:
                log.warning("chat store: the writer did not finish within %.0f s", timeout)
        self._checkpoints.shutdown(wait=False, cancel_futures=True)
        self._checkpointer.dispose()
        self._engine.dispose()

    def _run(self) -> None:
        try:
            while True:
                self._wakeup.wait()
                self._wakeup.clear()
                while batch := self._store.take_batch():
                    self._call_soon(self._store.settle, self._commit(batch))
                    self._maybe_checkpoint()
                if self._stopping:
                    return
        finally:
            if self._stopped is not None:
                self._call_soon(_set_done, self._stopped)

    def _call_soon(self, callback: Any, *args: Any) -> None:
        assert self._loop is not None
        with suppress(RuntimeError):  # the loop has closed: nobody is waiting any more
            self._loop.call_soon_threadsafe(callback, *args)

    def _commit(self, batch: list[_Pending]) -> Settled:
        # No retry one by one, unlike PostgreSQL: the write lock is taken before the duplicate
        # check (BEGIN IMMEDIATE), so no other writer can race this batch on a client_id.
        plan = _Plan.of(batch)
        try:
            return plan.settled(self._transaction(plan.writes))
        except Exception as exc:
            return _unstored(batch, exc)

    def _transaction(self, writes: Sequence[Write]) -> Committed:
        connection = self._engine.raw_connection()
        try:
            driver = connection.driver_connection
            assert isinstance(driver, sqlite3.Connection)
            return commit_batch_sqlite(driver, writes)
        finally:
            connection.close()

    def _maybe_checkpoint(self) -> None:
        now = time.monotonic()
        if now - self._checkpoint_at < _CHECKPOINT_INTERVAL:
            return
        if self._checkpoint is not None and not self._checkpoint.done():
            return
        self._checkpoint_at = now
        with suppress(RuntimeError):  # shutting down
            self._checkpoint = self._checkpoints.submit(self._checkpoint_wal)

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


class _AsyncWriter:
    """A task on the event loop that commits batch after batch through the async engine."""

    def __init__(self, engine: AsyncEngine, store: MessageStore, timeout: float) -> None:
        self._engine = engine
        self._store = store
        self._timeout = timeout
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._task = loop.create_task(self._run(), name="chat-message-writer")

    def wake(self) -> None:
        self._wakeup.set()

    async def stop(self, timeout: float) -> None:
        self._stopping = True
        self._wakeup.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while batch := self._store.take_batch():
                settled = await self._commit(batch)
                self._store.settle(settled)
            if self._stopping:
                return

    async def _commit(self, batch: list[_Pending]) -> Settled:
        plan = _Plan.of(batch)
        try:
            async with asyncio.timeout(self._timeout):
                try:
                    return plan.settled(await self._transaction(plan.writes))
                except Exception as exc:
                    if _is_outage(exc):
                        raise
                    # A race on client_id with another instance, or one bad row: isolate it.
                    log.info("chat store: batch of %d failed (%s); one by one", len(batch), exc)
                    return plan.settled([await self._commit_one(write) for write in plan.writes])
        except Exception as exc:
            return _unstored(batch, exc)

    async def _commit_one(self, write: Write) -> Outcome:
        for attempt in range(2):
            try:
                return (await self._transaction([write]))[0]
            except IntegrityError:
                if attempt:  # the duplicate check of the retry should have found it
                    return StoreUnavailable("the message could not be stored")
            except Exception as exc:
                if _is_outage(exc):
                    raise
                log.warning("chat store: write refused by the database: %s", exc)
                return StoreUnavailable("the message could not be stored")
        raise AssertionError("unreachable")

    async def _transaction(self, writes: Sequence[Write]) -> Committed:
        async with self._engine.begin() as connection:
            return await connection.run_sync(commit_batch, writes)
