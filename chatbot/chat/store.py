"""The message store: one writer per process commits waiting messages in batches (group commit).

Each write waits for the commit of the batch that holds it; nothing is acknowledged before.
Per conversation, seqs come from `conversations.last_seq`, incremented by an UPDATE ... RETURNING
in the batch's transaction, so that two instances writing to one conversation never collide.
A repeated `(conversation_id, client_id)` stores nothing and answers with the stored message.

Writes wait in one bounded inbox (at most `queue_size` writes accepted and not yet answered).
A task on the event loop takes up to `batch_max` of them and commits them in one transaction
(`store_batch.commit_batch`), then the next batch:

- SQLite: in one hop to a worker thread, on its own connection (BEGIN IMMEDIATE);
- PostgreSQL: through the async engine (SQLAlchemy Core on asyncpg, `run_sync`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.chat.store_batch import commit_batch
from chatbot.chat.writes import (
    DATABASE_UNAVAILABLE,
    NOT_STORED,
    SHUTTING_DOWN,
    BatchPlan,
    ConversationGone,
    Stored,
    StoreUnavailable,
    Write,
)
from chatbot.storage.engine import sqlite_writer_engine

log = logging.getLogger(__name__)

__all__ = ["ConversationGone", "MessageStore", "StoreUnavailable", "Stored", "Write"]

Outcome = Stored | BaseException
Committed = list[Stored | ConversationGone]


@dataclass(slots=True)
class StoreStats:
    """Counters for logs and benchmarks: messages written and transactions that wrote them."""

    batches: int = 0
    writes: int = 0

    def committed(self, writes: int) -> None:
        self.batches += 1
        self.writes += writes


@dataclass(slots=True)
class _Pending:
    write: Write
    future: asyncio.Future[Stored]


Settled = list[tuple[_Pending, Outcome]]


def _is_outage(exc: BaseException) -> bool:
    """A lost or unreachable database, as opposed to a problem with one batch's content."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError)


def _failed(batch: Sequence[_Pending], reason: str) -> Settled:
    return [(pending, StoreUnavailable(reason)) for pending in batch]


def _unstored(batch: Sequence[_Pending], exc: Exception) -> Settled:
    """A batch that failed as a whole: refused, so that the senders retry with their ids."""
    if _is_outage(exc):
        log.warning("chat store: database unavailable (%s): %d writes refused", exc, len(batch))
        return _failed(batch, DATABASE_UNAVAILABLE)
    log.error("chat store: a batch of %d failed: %s", len(batch), exc, exc_info=exc)
    return _failed(batch, NOT_STORED)


class MessageStore:
    """Group commit: up to `batch_max` writes per transaction; at most `queue_size` waiting."""

    def __init__(
        self, engine: AsyncEngine, *, batch_max: int, queue_size: int, timeout: float = 10.0
    ) -> None:
        self.batch_max = batch_max
        self._inbox: deque[_Pending] = deque()
        # Accepted and not yet settled; at `queue_size`, senders wait for room.
        self._unsettled = 0
        self._queue_size = queue_size
        self._room = asyncio.Event()
        self._closing = False
        self.stats = StoreStats()
        transactions: _Transactions = (
            _ThreadTransactions(engine)
            if engine.dialect.name == "sqlite"
            else _EngineTransactions(engine)
        )
        self._writer = _Writer(transactions, self, timeout)

    @property
    def running(self) -> bool:
        return self._writer.running

    async def start(self) -> None:
        await self._writer.start()

    async def close(self, drain_timeout: float = 5.0) -> None:
        """Commit what is waiting (within `drain_timeout`), then stop the writer."""
        self._closing = True
        await self._writer.stop(drain_timeout)
        left = self.take(len(self._inbox))
        if left:
            log.warning("chat store: %d writes not committed at shutdown", len(left))
            self.settle(_failed(left, SHUTTING_DOWN))

    async def append(self, write: Write) -> Stored:
        """Store `write` and return the stored message once its transaction has committed."""
        if self._closing:
            raise StoreUnavailable(SHUTTING_DOWN)
        while self._unsettled >= self._queue_size:
            self._room.clear()
            await self._room.wait()
        self._unsettled += 1
        future: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        self._inbox.append(_Pending(write, future))
        self._writer.wake()
        return await future

    def take(self, limit: int) -> list[_Pending]:
        """Up to `limit` waiting writes, oldest first."""
        inbox = self._inbox
        return [inbox.popleft() for _ in range(min(limit, len(inbox)))]

    def settle(self, settled: Settled) -> None:
        """Answer each write's sender."""
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


class _Transactions(Protocol):
    """Commits one batch in one transaction."""

    async def commit(self, writes: Sequence[Write]) -> Committed: ...

    async def close(self) -> None: ...


class _EngineTransactions:
    """Each batch through the async engine (`run_sync` over its driver)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def commit(self, writes: Sequence[Write]) -> Committed:
        async with self._engine.begin() as connection:
            return await connection.run_sync(commit_batch, writes)

    async def close(self) -> None:
        pass


class _ThreadTransactions:
    """SQLite: each batch in one hop to a worker thread, on the thread's own connection.

    The loop does nothing for a batch but hand it over and take the answer: through the async
    driver, each statement was a round trip between the loop and the driver's thread.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = sqlite_writer_engine(engine.url)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chat-sqlite-writer")

    def _commit(self, writes: Sequence[Write]) -> Committed:
        with self._engine.begin() as connection:
            return commit_batch(connection, writes)

    async def commit(self, writes: Sequence[Write]) -> Committed:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._commit, writes)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._engine.dispose)
        self._thread.shutdown(wait=False)


class _Writer:
    """A task on the event loop that commits batch after batch, one transaction each."""

    def __init__(self, transactions: _Transactions, store: MessageStore, timeout: float) -> None:
        self._transactions = transactions
        self._store = store
        self._timeout = timeout
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="chat-message-writer")

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
        await self._transactions.close()

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while batch := self._store.take(self._store.batch_max):
                settled = await self._commit(batch)
                self._store.stats.committed(len(batch))
                self._store.settle(settled)
            if self._stopping:
                return

    async def _commit(self, batch: list[_Pending]) -> Settled:
        plan = BatchPlan.of([pending.write for pending in batch])
        try:
            async with asyncio.timeout(self._timeout):
                try:
                    results: Sequence[Outcome] = await self._transactions.commit(plan.unique)
                except Exception as exc:
                    if _is_outage(exc):
                        raise
                    # A race on client_id with another instance, or one bad row: isolate it.
                    log.info("chat store: batch of %d failed (%s); one by one", len(batch), exc)
                    results = [await self._commit_one(write) for write in plan.unique]
        except Exception as exc:
            return _unstored(batch, exc)
        return list(zip(batch, plan.arrange(results), strict=True))

    async def _commit_one(self, write: Write) -> Outcome:
        for attempt in range(2):
            try:
                return (await self._transactions.commit([write]))[0]
            except IntegrityError:
                if attempt:  # the duplicate check of the retry should have found it
                    return StoreUnavailable(NOT_STORED)
            except Exception as exc:
                if _is_outage(exc):
                    raise
                log.warning("chat store: write refused by the database: %s", exc)
                return StoreUnavailable(NOT_STORED)
        raise AssertionError("unreachable")
