"""The SQLite message writer: a process of its own that commits batch after batch.

Why a process: the writer's Python work (outcomes, rows, the driver's calls) and the event
loop's would otherwise take turns on one interpreter lock, and each waited for the other. In a
process of its own the writer commits while the loop serves sockets, on another core.

The server starts it (`python -m chatbot.chat.sqlite_writer DATABASE BATCH_MAX`) and the two talk
over the writer's standard input and output in frames: a 4-byte length, then a pickle.

- server → writer: a list of writes, each a tuple (conversation_id, role, text, client_id,
  author_id, new_conversation, hooks). The server sends what was appended since its last frame, one
  frame at a time: the next once the writer has answered.
- server → writer, last: STOP (a pickled None), in an orderly stop.
- writer → server: one frame per transaction: (outcomes, failure). The outcomes answer the
  transaction's writes in the order they were sent (see `encode_outcome`); `failure` is None, or
  what made the whole batch fail, for the server's log.

The writer takes everything that has arrived (up to BATCH_MAX writes), commits it in one
transaction, answers, and goes on at once. It exits when its input ends. After an orderly stop
(the server's STOP frame, then the end of the input) it first commits and answers everything it
received. Without one (the server died, SIGKILL included) it stops at once, once the transaction
in progress has ended, as a database does with a client that went away: nobody waits for the
answers, and what was never answered is sent again by its senders. It ignores SIGINT and
SIGTERM, which a terminal or a supervisor sends to the whole process group: the server decides
when its writer stops. On Linux it runs under SCHED_BATCH: without it, each frame the
loop wrote woke the writer with a preemption of the loop, and the pipe write cost the loop many
times its own work (docs/benchmarks.md). It imports no SQLAlchemy, so that it starts at once.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import sqlite3
import struct
import sys
import threading
import traceback
from collections import deque
from collections.abc import Sequence
from typing import Any

from chatbot.chat.store_sqlite import commit_batch_sqlite
from chatbot.chat.writes import (
    DATABASE_UNAVAILABLE,
    NOT_STORED,
    BatchPlan,
    ConversationGone,
    Stored,
    StoreUnavailable,
    Write,
)
from chatbot.conversations.message import MessageView
from chatbot.storage.sqlite import apply_pragmas

_HEADER = struct.Struct("<I")

# What a write that was not stored answers with (any other outcome is a stored message's tuple).
GONE = "gone"  # the conversation no longer exists
UNAVAILABLE = "unavailable"  # the database could not be reached, or is locked by another process
FAILED = "failed"  # the batch failed for another reason (logged by the server)

_REFUSALS = {UNAVAILABLE: DATABASE_UNAVAILABLE, FAILED: NOT_STORED}

_WRITER_PRAGMAS = (
    # A checkpoint copies the WAL back with an fsync; done by a commit (every 1000 pages, a few
    # batches) it stalls every message of the batch. Checkpoints run in their own thread
    # instead; this automatic one (~80 MiB of WAL) is only a safety net should they stall.
    "wal_autocheckpoint=20000",
    # The per-conversation index pages a batch touches stay in memory; reads need no syscall.
    "cache_size=-65536",
    "mmap_size=268435456",
    # Each insert's foreign-key probe would repeat what the batch's UPDATE of the conversations
    # established in the same transaction, under the write lock: that the conversation exists
    # (ConversationGone otherwise).
    "foreign_keys=OFF",
)
# Prepared statements kept by the writer's connection (the driver's default is 128): batch
# sizes vary, and each size is its own statement.
_CACHED_STATEMENTS = 2048
# Seconds between two checkpoints of the WAL, run beside the writer rather than in a commit.
_CHECKPOINT_INTERVAL = 0.5
# A WAL at least this long after a checkpoint pass (32 MiB of 4 KiB pages) is finished by the
# writer, so that it starts over instead of growing. Each restart holds the writer up for a few
# milliseconds (two fsyncs): from 1,000 pages, restarts every half second under heavy load did
# 8 % fewer round trips than from 8,000.
_RESTART_FRAMES = 8000
_READ_SIZE = 1 << 20

Encoded = tuple[Any, ...] | str


# ---- frames (both sides) ------------------------------------------------------------------------


def frame(payload: object) -> bytes:
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


class FrameReader:
    """Cuts a byte stream into the payloads of its frames."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        buffer = self._buffer
        buffer += data
        payloads = []
        start = 0
        while len(buffer) - start >= _HEADER.size:
            (size,) = _HEADER.unpack_from(buffer, start)
            end = start + _HEADER.size + size
            if end > len(buffer):
                break
            # Trusted: the two ends are this server and the writer process it started.
            payloads.append(pickle.loads(memoryview(buffer)[start + _HEADER.size : end]))  # noqa: S301
            start = end
        if start:
            del buffer[:start]
        return payloads


# The server's last frame before it closes the writer's input in an orderly stop.
STOP = frame(None)


def encode_writes(writes: Sequence[Write]) -> bytes:
    return frame(
        [
            (
                w.conversation_id,
                w.role,
                w.text,
                w.client_id,
                w.author_id,
                w.new_conversation,
                w.hooks,
            )
            for w in writes
        ]
    )


def encode_outcome(outcome: Stored | BaseException) -> Encoded:
    """A write's outcome for the frame back. A new message is sent without what its write
    already holds (conversation, role, text, client_id): the server has the write."""
    if isinstance(outcome, Stored):
        m = outcome.message
        conversation = (
            outcome.status,
            outcome.handed_off,
            outcome.chatbot_id,
            outcome.started_at,
            outcome.first_visitor_message,
        )
        if outcome.created:
            return (True, m.id, m.seq, m.created_at, *conversation)
        stored = (m.id, m.seq, m.conversation_id, m.role, m.text, m.client_id, m.created_at)
        return (False, *stored, *conversation)
    return GONE if isinstance(outcome, ConversationGone) else FAILED


def decode_outcome(encoded: Encoded, write: Write) -> Stored | BaseException:
    if isinstance(encoded, str):
        if encoded == GONE:
            return ConversationGone(write.conversation_id)
        return StoreUnavailable(_REFUSALS[encoded])
    if encoded[0]:
        _, id_, seq, created_at, *conversation = encoded
        message = MessageView(
            id_, seq, write.conversation_id, write.role, write.text, write.client_id, created_at
        )
        return Stored(message, True, *conversation)
    _, id_, seq, conversation_id, role, text, client_id, created_at, *conversation = encoded
    message = MessageView(id_, seq, conversation_id, role, text, client_id, created_at)
    return Stored(message, False, *conversation)


# ---- the writer process -------------------------------------------------------------------------


def is_outage(exc: BaseException) -> bool:
    """The database cannot be reached or is locked, as opposed to a problem with the batch."""
    return isinstance(exc, sqlite3.OperationalError | OSError)


def commit(connection: sqlite3.Connection, batch: Sequence[Write]) -> tuple[list[Encoded], Any]:
    """Commit `batch` in one transaction: (each write's encoded outcome, failure or None).

    No retry one by one: the write lock is taken before the duplicate check (BEGIN IMMEDIATE),
    so no other writer can race this batch on a client_id. A failed batch is refused as a
    whole, and its senders send again with the same client_ids.
    """
    plan = BatchPlan.of(batch)
    try:
        results = plan.arrange(commit_batch_sqlite(connection, plan.unique))
    except Exception as exc:
        if is_outage(exc):
            return [UNAVAILABLE] * len(batch), (UNAVAILABLE, str(exc))
        return [FAILED] * len(batch), (FAILED, traceback.format_exc())
    return [encode_outcome(result) for result in results], None


class _Checkpointer:
    """Keeps the WAL short while commits go on.

    A thread with its own connection runs a PASSIVE checkpoint every half second: it copies what
    no reader still needs, beside the writer, without taking the write lock. Under steady writes
    it never catches up, though (the writer appends while it copies), and the WAL can only start
    over once every frame is copied. So when a pass found the WAL long, the writer copies the
    few frames written during that pass itself, between two transactions (`finish`); its next
    commit then writes the WAL from the start again. Without this, the WAL grew to the
    automatic checkpoint's limit every second or two, and that checkpoint, run inside a commit,
    copied seconds of frames while every write of the batch waited.
    """

    def __init__(self, database: str) -> None:
        self._database = database
        self._dirty = False
        self._tail_due = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        self._dirty = True

    def finish(self, connection: sqlite3.Connection) -> None:
        """Copy the frames the last pass left, on the writer's connection, if it asked to."""
        if not self._tail_due:
            return
        self._tail_due = False
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            print(f"chat store: WAL checkpoint failed ({exc})", file=sys.stderr)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while not self._stop.wait(_CHECKPOINT_INTERVAL):
                if not self._dirty:
                    continue
                self._dirty = False
                try:
                    if connection is None:
                        connection = sqlite3.connect(self._database)
                        apply_pragmas(connection)
                    # (busy, frames in the WAL, frames copied) as the pass began: the writer
                    # has appended more since.
                    _, frames, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as exc:
                    print(f"chat store: WAL checkpoint failed ({exc})", file=sys.stderr)
                    continue
                self._tail_due = frames >= _RESTART_FRAMES
        finally:
            if connection is not None:
                connection.close()


class _Input:
    """The writes arriving from the server, and how the server ended the input."""

    def __init__(self, source: int) -> None:
        self._source = source
        self._reader = FrameReader()
        self.waiting: deque[Write] = deque()
        self.open = True
        self.stop_asked = False  # the server's stop frame came: answer everything, then exit

    def receive(self, *, block: bool) -> None:
        """Add what has arrived to `waiting` (waiting for something first if `block`)."""
        if block:
            select.select([self._source], [], [])
        while True:
            try:
                data = os.read(self._source, _READ_SIZE)
            except BlockingIOError:
                return
            if not data:
                self.open = False
                return
            for payload in self._reader.feed(data):
                if payload is None:
                    self.stop_asked = True
                else:
                    self.waiting.extend(Write(*write) for write in payload)

    @property
    def finished(self) -> bool:
        """The input has ended: after a stop frame, once everything is answered; without one
        (the server died), at once, since nobody waits for the answers any more."""
        return not self.open and (not self.stop_asked or not self.waiting)


def _send(sink: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(sink, view) :]


def serve(database: str, batch_max: int, source: int = 0, sink: int = 1) -> None:
    """Commit the writes arriving on `source` and answer on `sink` until `source` ends."""
    connection = sqlite3.connect(database, cached_statements=_CACHED_STATEMENTS)
    apply_pragmas(connection)
    apply_pragmas(connection, _WRITER_PRAGMAS)
    checkpointer = _Checkpointer(database)
    os.set_blocking(source, False)
    incoming = _Input(source)
    waiting = incoming.waiting
    try:
        while True:
            if incoming.open:
                incoming.receive(block=not waiting)
            if incoming.finished:
                return
            batch = [waiting.popleft() for _ in range(min(batch_max, len(waiting)))]
            if batch:
                _send(sink, frame(commit(connection, batch)))
                checkpointer.committed()
                checkpointer.finish(connection)
    finally:
        checkpointer.stop()
        connection.close()


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m chatbot.chat.sqlite_writer DATABASE BATCH_MAX", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if hasattr(os, "SCHED_BATCH"):  # Linux: handing it writes does not preempt the event loop
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    try:
        serve(argv[0], int(argv[1]))
    except BrokenPipeError:  # the server is gone: nobody is waiting for the answers
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
