"""The SQLite writer process's side of the protocol: frames in, one answer per transaction out."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from chat_helpers import insert_chatbot, migrated_engine, new_conversation

from chatbot.chat import sqlite_writer
from chatbot.chat.sqlite_writer import FrameReader, decode_outcome, encode_writes, frame, serve
from chatbot.chat.writes import ConversationGone, Stored, StoreUnavailable, Write
from chatbot.storage.sqlite import apply_pragmas


def test_frames_cut_anywhere_in_the_stream_read_back_whole_and_in_order() -> None:
    payloads: list[Any] = [["one", 1], {"two": (2, None)}, "x" * 70_000, []]
    stream = b"".join(frame(payload) for payload in payloads)
    reader = FrameReader()

    received: list[Any] = []
    for start in range(0, len(stream), 7):
        received.extend(reader.feed(stream[start : start + 7]))

    assert received == payloads
    assert reader.feed(b"") == []


def run_writer(
    path: str, frames: Sequence[bytes], batch_max: int, *, stop: bool = True
) -> list[Any]:
    """Send `frames` to `serve` (then STOP, if `stop`), close its input, and return every
    answer it gave."""
    to_writer, writer_in = os.pipe()
    writer_out, from_writer = os.pipe()
    thread = threading.Thread(target=serve, args=(path, batch_max, to_writer, from_writer))
    thread.start()
    ending = [sqlite_writer.STOP] if stop else []
    # All there at its first read: the batches it makes are known.
    os.write(writer_in, b"".join([*frames, *ending]))
    os.close(writer_in)
    thread.join(timeout=30)
    assert not thread.is_alive(), "the writer did not stop when its input closed"
    os.close(to_writer)
    os.close(from_writer)
    answers: list[Any] = []
    reader = FrameReader()
    while data := os.read(writer_out, 1 << 16):
        answers.extend(reader.feed(data))
    os.close(writer_out)
    return answers


@pytest.fixture
async def conversation_id(sqlite_url: str) -> str:
    """A conversation in a migrated SQLite database at `sqlite_url`."""
    async with migrated_engine(sqlite_url) as engine:
        return await new_conversation(engine, (await insert_chatbot(engine))[1])


def stored_count(sqlite_url: str) -> int:
    with closing(sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))) as database:
        (count,) = database.execute("SELECT count(*) FROM messages").fetchone()
    return int(count)


async def test_after_the_stop_frame_the_writer_answers_everything_it_received(
    sqlite_url: str, conversation_id: str
) -> None:
    writes = [Write(conversation_id, "visitor", f"m{i}", f"c{i}") for i in range(10)]
    gone = Write("no-such-conversation", "visitor", "lost", "c0")
    repeat = Write(conversation_id, "visitor", "again", "c3")

    answers = run_writer(
        sqlite_url.removeprefix("sqlite:///"),
        [encode_writes(writes[:6]), encode_writes([*writes[6:], gone, repeat])],
        batch_max=4,
    )

    sent = [*writes, gone, repeat]
    assert [len(outcomes) for outcomes, _ in answers] == [4, 4, 4]  # batches of at most 4
    assert all(failure is None for _, failure in answers)
    results = [
        decode_outcome(encoded, write)
        for encoded, write in zip(
            [encoded for outcomes, _ in answers for encoded in outcomes], sent, strict=True
        )
    ]
    stored = [result for result in results if isinstance(result, Stored)]
    assert [result.message.seq for result in stored[:10]] == list(range(1, 11))
    assert isinstance(results[10], ConversationGone)
    assert (stored[10].created, stored[10].message) == (False, stored[3].message)


async def test_a_batch_the_database_refuses_is_answered_unavailable_and_explained(
    tmp_path: str,
) -> None:
    path = f"{tmp_path}/empty.db"  # no tables: every statement fails
    answers = run_writer(path, [encode_writes([Write("c", "visitor", "x", "k")])], batch_max=4)

    [(outcomes, failure)] = answers
    assert outcomes == [sqlite_writer.UNAVAILABLE]
    assert failure[0] == sqlite_writer.UNAVAILABLE
    assert "no such table" in failure[1]
    refused = decode_outcome(outcomes[0], Write("c", "visitor", "x", "k"))
    assert isinstance(refused, StoreUnavailable)
    assert str(refused) == "the database is unavailable"


async def test_an_input_that_ends_without_the_stop_frame_stops_the_writer_at_once(
    sqlite_url: str, conversation_id: str
) -> None:
    """The server died: nobody waits for answers, and the senders will send again."""
    writes = [Write(conversation_id, "visitor", f"m{i}", f"c{i}") for i in range(10)]

    answers = run_writer(
        sqlite_url.removeprefix("sqlite:///"), [encode_writes(writes)], batch_max=4, stop=False
    )

    assert answers == []
    assert stored_count(sqlite_url) == 0


def wal_restarts(path: str) -> int:
    """The WAL's checkpoint sequence number, which SQLite increments each time the WAL starts
    over from its beginning (the WAL header: a big-endian integer at byte 12)."""
    with open(f"{path}-wal", "rb") as wal:
        header = wal.read(16)
    return int.from_bytes(header[12:16], "big")


def test_under_steady_writes_the_wal_starts_over_instead_of_growing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Checkpoint passes alone never catch up with a writer that keeps committing, so the WAL
    # could only start over at SQLite's automatic checkpoint, which is turned off here.
    monkeypatch.setattr(sqlite_writer, "_CHECKPOINT_INTERVAL", 0.01)
    monkeypatch.setattr(sqlite_writer, "_RESTART_FRAMES", 20)
    path = str(tmp_path / "steady.db")
    with closing(sqlite3.connect(path)) as writer:
        apply_pragmas(writer)
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("CREATE TABLE notes (text TEXT)")
        writer.commit()
        first = wal_restarts(path)
        checkpointer = sqlite_writer._Checkpointer(path)
        try:
            for count in range(20_000):  # bounded: about 80 MiB of WAL if it never started over
                writer.execute("INSERT INTO notes VALUES (?)", (f"note {count}",))
                writer.commit()
                checkpointer.committed()
                checkpointer.finish(writer)
                if wal_restarts(path) - first >= 3:
                    break
        finally:
            checkpointer.stop()
        restarts, wal_size = wal_restarts(path) - first, os.path.getsize(f"{path}-wal")

    assert restarts >= 3
    assert wal_size < 8 << 20
