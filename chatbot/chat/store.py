"""The message store: one writer task per process commits pending messages in batches.

Each write waits for the commit of the batch that holds it; nothing is acknowledged before.
Per conversation, seqs come from `conversations.last_seq`, incremented by an UPDATE ... RETURNING
in the batch's transaction, so that two instances writing to one conversation never collide.
A repeated `(conversation_id, client_id)` stores nothing and answers with the stored message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field, replace

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.chat.store_batch import ConversationGone, Stored, Write, commit_batch
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
    return isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError)


class _Committer:
    """Runs `commit_batch` in one transaction: in a thread of its own for SQLite, whose driver
    would otherwise cost an event-loop round trip per statement; natively for PostgreSQL."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sync: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        if engine.dialect.name == "sqlite":
            self._sync = create_engine(engine.url.set(drivername="sqlite"), pool_size=1)
            event.listen(self._sync, "connect", _set_sqlite_pragmas)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="chat-store")

    async def commit(self, writes: Sequence[Write]) -> list[Stored | ConversationGone]:
        if self._thread is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._thread, self._commit_in_thread, writes)
        async with self._engine.begin() as connection:
            return await connection.run_sync(commit_batch, writes)

    def _commit_in_thread(self, writes: Sequence[Write]) -> list[Stored | ConversationGone]:
        assert self._sync is not None
        with self._sync.begin() as connection:
            return commit_batch(connection, writes)

    def close(self) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=False, cancel_futures=True)
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
            import time as _t
            _s = _t.perf_counter()
            try:
                await self._process(batch)
                _d = _t.perf_counter() - _s
                self._dbg = getattr(self, "_dbg", [])
                self._dbg.append((len(batch), _d))
                if len(self._dbg) % 200 == 0:
                    import statistics
                    sizes=[a for a,_ in self._dbg[-200:]]; durs=[b for _,b in self._dbg[-200:]]
                    log.warning("DBG batches: size avg %.1f max %d, ms avg %.2f p90 %.2f busy %.2f", statistics.mean(sizes), max(sizes), statistics.mean(durs)*1000, sorted(durs)[180]*1000, sum(durs))
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
            except IntegrityError:
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
