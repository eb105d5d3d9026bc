"""The message store: one writer per process commits waiting messages in batches (group commit).

Each write waits for the commit of the batch that holds it; nothing is acknowledged before.
Per conversation, seqs come from `conversations.last_seq`, incremented by an UPDATE ... RETURNING
in the batch's transaction, so that two instances writing to one conversation never collide.
A repeated `(conversation_id, client_id)` stores nothing and answers with the stored message.

Writes wait in one bounded inbox (at most `queue_size` writes accepted and not yet answered).

- SQLite: the writer is a process of its own (`chat.sqlite_writer`). What waits in the inbox is
  sent to it in one frame, the next one once it has answered; it commits what has arrived in
  batches of up to `batch_max`, one after another, and answers each batch in one frame,
  settled on the loop.
  If it dies, the writes it had not answered are refused (their senders send them again with
  the same client_ids) and a new one is started.
- PostgreSQL: a task on the event loop takes up to `batch_max` writes from the inbox and commits
  them through SQLAlchemy Core on asyncpg.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections import deque
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

import chatbot
from chatbot.chat import sqlite_writer
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

log = logging.getLogger(__name__)

__all__ = ["ConversationGone", "MessageStore", "StoreUnavailable", "Stored", "Write"]

Outcome = Stored | BaseException
Committed = list[Stored | ConversationGone]

# A writer process that dies sooner than this after its start waits this long before the next.
_RESTART_BACKOFF = 1.0
_FRAMES_AHEAD = 1


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


def _log_refused(count: int, *, outage: bool, cause: object, exc: Exception | None = None) -> None:
    """Say why a whole batch was refused: the database's outage, or the batch's own failure."""
    if outage:
        log.warning("chat store: database unavailable (%s): %d writes refused", cause, count)
    else:
        log.error("chat store: a batch of %d failed: %s", count, cause, exc_info=exc)


def _unstored(batch: Sequence[_Pending], exc: Exception) -> Settled:
    """A batch that failed as a whole: refused, so that the senders retry with their ids."""
    outage = _is_outage(exc)
    _log_refused(len(batch), outage=outage, cause=exc, exc=None if outage else exc)
    return _failed(batch, DATABASE_UNAVAILABLE if outage else NOT_STORED)


class _Writer(Protocol):
    """Takes writes from the store's inbox, commits them in batches, and settles them."""

    @property
    def running(self) -> bool: ...

    async def start(self) -> None: ...

    def wake(self) -> None: ...

    async def stop(self, timeout: float) -> None: ...


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
        self._writer: _Writer = (
            _SqliteProcessWriter(engine, self)
            if engine.dialect.name == "sqlite"
            else _AsyncWriter(engine, self, timeout)
        )

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


def _package_path() -> str:
    """PYTHONPATH for the writer process: this `chatbot` package first, then the server's."""
    here = str(Path(chatbot.__file__).resolve().parent.parent)
    inherited = os.environ.get("PYTHONPATH")
    return here if not inherited else os.pathsep.join((here, inherited))


class _WriterProcess(asyncio.SubprocessProtocol):
    """One writer process: its answers go to the writer; `done` resolves once it has exited."""

    def __init__(self, writer: _SqliteProcessWriter) -> None:
        self._writer = writer
        self._reader = sqlite_writer.FrameReader()
        self.transport: asyncio.SubprocessTransport | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement these interfaces without subclassing asyncio's.
        self.transport = cast(asyncio.SubprocessTransport, transport)

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        assert isinstance(data, bytes)
        for answer in self._reader.feed(data):
            self._writer.answered(*answer)

    def connection_lost(self, exc: Exception | None) -> None:
        # The process has exited and its pipes are closed: every answer it sent has arrived.
        if self.transport is not None:
            self.transport.close()
        if not self.done.done():
            self.done.set_result(None)
        self._writer.exited(self)

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        stdin = cast(asyncio.WriteTransport, self.transport.get_pipe_transport(0))
        stdin.write(data)

    def close_input(self) -> None:
        if self.transport is not None and (stdin := self.transport.get_pipe_transport(0)):
            stdin.close()

    @property
    def returncode(self) -> int | None:
        return None if self.transport is None else self.transport.get_returncode()


class _SqliteProcessWriter:
    """Sends the inbox to the writer process and settles its answers; replaces it if it dies."""

    def __init__(self, engine: AsyncEngine, store: MessageStore) -> None:
        database = engine.url.database
        if not database or database == ":memory:":
            raise ValueError("the chat store needs an SQLite file, not an in-memory database")
        self._database = str(Path(database).expanduser().resolve())
        self._store = store
        self._process: _WriterProcess | None = None
        self._sent: deque[_Pending] = deque()  # sent to the process, not answered, oldest first
        self._flush_scheduled = False
        # Frames sent since the process's last answer, at most _FRAMES_AHEAD: while it commits
        # one batch, the writes that arrive wait in the inbox and go together once it answers.
        # So one frame (one system call) goes each way per transaction, and each batch is as
        # large as the last commit took time. Two frames ahead did as many round trips, with a
        # wider spread of latencies (docs/benchmarks.md).
        self._ahead = 0
        self._stopping = False
        self._started_at = 0.0
        self._restart: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and not self._stopping

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        process = _WriterProcess(self)
        self._started_at = time.monotonic()
        await loop.subprocess_exec(
            lambda: process,
            sys.executable,
            "-m",
            "chatbot.chat.sqlite_writer",
            self._database,
            str(self._store.batch_max),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,  # its rare messages (a failed checkpoint, a crash) join the server's
            env={**os.environ, "PYTHONPATH": _package_path()},
        )
        self._process = process
        self._ahead = 0
        self.wake()  # writes that arrived while no process was running

    def wake(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self, *, now: bool = False) -> None:
        self._flush_scheduled = False
        process = self._process
        if process is None:
            return  # none running: what waits is sent to the next one
        if self._ahead >= _FRAMES_AHEAD and not now:
            return  # the process has work queued: more waits for its next answer
        writes = self._store.take(sys.maxsize)
        if writes:
            self._sent.extend(writes)
            self._ahead += 1
            process.send(sqlite_writer.encode_writes([pending.write for pending in writes]))

    def answered(self, outcomes: list[sqlite_writer.Encoded], failure: Any) -> None:
        """One transaction's answers, for the oldest writes sent."""
        sent = self._sent
        batch = [sent.popleft() for _ in range(len(outcomes))]
        self._ahead = 0
        self.wake()
        if failure is not None:
            kind, detail = failure
            _log_refused(len(batch), outage=kind == sqlite_writer.UNAVAILABLE, cause=detail)
        self._store.stats.committed(len(batch))
        self._store.settle(
            [
                (pending, sqlite_writer.decode_outcome(encoded, pending.write))
                for pending, encoded in zip(batch, outcomes, strict=True)
            ]
        )

    def exited(self, process: _WriterProcess) -> None:
        if process is not self._process:
            return
        self._process = None
        # Perhaps committed, perhaps not: the senders send again with the same client_ids.
        lost = list(self._sent)
        self._sent.clear()
        self._store.settle(_failed(lost, SHUTTING_DOWN if self._stopping else DATABASE_UNAVAILABLE))
        if self._stopping:
            return
        log.error(
            "chat store: the SQLite writer process exited with status %s; %d unanswered writes"
            " refused; starting a new one",
            process.returncode,
            len(lost),
        )
        self._restart = asyncio.get_running_loop().create_task(self._start_again())

    async def _start_again(self) -> None:
        while True:
            if time.monotonic() - self._started_at < _RESTART_BACKOFF:
                await asyncio.sleep(_RESTART_BACKOFF)
            if self._stopping:
                return
            try:
                await self.start()
                return
            except OSError as exc:
                waiting = self._store.take(sys.maxsize)
                log.error(
                    "chat store: cannot start the SQLite writer process (%s); %d waiting writes"
                    " refused; trying again",
                    exc,
                    len(waiting),
                )
                self._store.settle(_failed(waiting, DATABASE_UNAVAILABLE))

    async def stop(self, timeout: float) -> None:
        """Send what waits, close the process's input, and wait until it has answered all
        (what it has not answered when it exits is refused by `exited`)."""
        self._flush(now=True)
        self._stopping = True
        if self._restart is not None:
            self._restart.cancel()
        process = self._process
        if process is None:
            return
        process.send(sqlite_writer.STOP)
        process.close_input()
        try:
            await asyncio.wait_for(asyncio.shield(process.done), timeout)
        except TimeoutError:
            log.warning("chat store: the writer did not finish within %.0f s", timeout)
            if process.transport is not None:
                with suppress(ProcessLookupError):
                    process.transport.kill()
            await process.done


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
                    results: Sequence[Outcome] = await self._transaction(plan.unique)
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
                return (await self._transaction([write]))[0]
            except IntegrityError:
                if attempt:  # the duplicate check of the retry should have found it
                    return StoreUnavailable(NOT_STORED)
            except Exception as exc:
                if _is_outage(exc):
                    raise
                log.warning("chat store: write refused by the database: %s", exc)
                return StoreUnavailable(NOT_STORED)
        raise AssertionError("unreachable")

    async def _transaction(self, writes: Sequence[Write]) -> Committed:
        async with self._engine.begin() as connection:
            return await connection.run_sync(commit_batch, writes)
