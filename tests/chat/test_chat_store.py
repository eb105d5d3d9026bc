"""The message store: seqs from the database, group commit, client_id idempotency, outages."""

from __future__ import annotations

import array
import asyncio
import fcntl
import os
import signal
import sqlite3
import termios
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path

import pytest
from chat_helpers import insert_chatbot, migrated_engine, new_conversation
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.chat.store import ConversationGone, MessageStore, StoreUnavailable, Write
from chatbot.conversations.repository import message_view
from chatbot.storage.schema import conversations, messages
from chatbot.storage.values import as_utc

from conftest import drop_postgres_database
from support import sqlite_writer_processes, until


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(database_url) as engine:
        yield engine


@pytest.fixture
async def chatbot_id(engine: AsyncEngine) -> str:
    return (await insert_chatbot(engine))[1]


@asynccontextmanager
async def running_store(
    engine: AsyncEngine, *, batch_max: int, queue_size: int, timeout: float = 10.0
) -> AsyncIterator[MessageStore]:
    store = MessageStore(engine, batch_max=batch_max, queue_size=queue_size, timeout=timeout)
    await store.start()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def store(engine: AsyncEngine) -> AsyncIterator[MessageStore]:
    async with running_store(engine, batch_max=64, queue_size=256) as store:
        yield store


async def stored_rows(engine: AsyncEngine, conversation_id: str) -> list[tuple[int, str | None]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(messages.c.seq, messages.c.client_id)
            .where(messages.c.conversation_id == conversation_id)
            .order_by(messages.c.seq)
        )
        return [(row.seq, row.client_id) for row in rows]


async def test_messages_get_consecutive_seqs_in_the_order_they_were_sent(
    engine: AsyncEngine, chatbot_id: str, store: MessageStore
) -> None:
    conversation_id = await new_conversation(engine, chatbot_id)

    results = await asyncio.gather(
        *(store.append(Write(conversation_id, "visitor", f"m{i}", f"c{i}")) for i in range(100))
    )

    assert [result.message.seq for result in results] == list(range(1, 101))
    assert all(result.created for result in results)
    assert await stored_rows(engine, conversation_id) == [(i + 1, f"c{i}") for i in range(100)]
    async with engine.connect() as connection:
        last_seq = await connection.scalar(
            select(conversations.c.last_seq).where(conversations.c.id == conversation_id)
        )
    assert last_seq == 100


async def test_concurrent_writes_are_committed_in_fewer_transactions_than_messages(
    engine: AsyncEngine, chatbot_id: str, store: MessageStore
) -> None:
    ids = [await new_conversation(engine, chatbot_id) for _ in range(20)]

    await asyncio.gather(
        *(store.append(Write(cid, "visitor", "hello", f"c{i}")) for i in range(10) for cid in ids)
    )

    assert store.stats.writes == 200
    assert store.stats.batches < 50
    for cid in ids:
        assert [seq for seq, _ in await stored_rows(engine, cid)] == list(range(1, 11))


async def test_a_repeated_client_id_returns_the_stored_message_and_stores_nothing(
    engine: AsyncEngine, chatbot_id: str, store: MessageStore
) -> None:
    conversation_id = await new_conversation(engine, chatbot_id)
    first = await store.append(Write(conversation_id, "visitor", "hello", "same"))

    again = await store.append(Write(conversation_id, "visitor", "hello (retried)", "same"))

    assert first.created
    assert not again.created
    assert again.message == first.message
    assert await stored_rows(engine, conversation_id) == [(1, "same")]


async def test_a_client_id_repeated_within_one_batch_is_stored_once(
    engine: AsyncEngine, chatbot_id: str, store: MessageStore
) -> None:
    conversation_id = await new_conversation(engine, chatbot_id)

    results = await asyncio.gather(
        *(store.append(Write(conversation_id, "visitor", "hi", "twice")) for _ in range(5))
    )

    assert sum(result.created for result in results) == 1
    assert {result.message.id for result in results} == {results[0].message.id}
    assert await stored_rows(engine, conversation_id) == [(1, "twice")]


async def test_the_same_client_id_in_another_conversation_is_another_message(
    engine: AsyncEngine, chatbot_id: str, store: MessageStore
) -> None:
    one, two = (
        await new_conversation(engine, chatbot_id),
        await new_conversation(engine, chatbot_id),
    )

    first = await store.append(Write(one, "visitor", "a", "c1"))
    second = await store.append(Write(two, "visitor", "b", "c1"))

    assert first.created
    assert second.created
    assert first.message.id != second.message.id


async def test_two_instances_writing_to_one_conversation_never_collide(
    engine: AsyncEngine, database_url: str, chatbot_id: str, store: MessageStore
) -> None:
    conversation_id = await new_conversation(engine, chatbot_id)
    async with (
        migrated_engine(database_url) as other_engine,
        running_store(other_engine, batch_max=16, queue_size=64) as other,
    ):
        results = await asyncio.gather(
            *(
                (store if i % 2 else other).append(
                    Write(conversation_id, "visitor", f"m{i}", f"c{i}")
                )
                for i in range(120)
            )
        )

    assert sorted(result.message.seq for result in results) == list(range(1, 121))
    assert [seq for seq, _ in await stored_rows(engine, conversation_id)] == list(range(1, 121))


async def test_a_client_id_racing_on_two_instances_is_stored_once(
    engine: AsyncEngine, database_url: str, chatbot_id: str, store: MessageStore
) -> None:
    conversation_id = await new_conversation(engine, chatbot_id)
    async with (
        migrated_engine(database_url) as other_engine,
        running_store(other_engine, batch_max=16, queue_size=64) as other,
    ):
        for round_ in range(10):
            client_id = f"race-{round_}"
            results = await asyncio.gather(
                store.append(Write(conversation_id, "visitor", "x", client_id)),
                other.append(Write(conversation_id, "visitor", "x", client_id)),
            )
            assert results[0].message.id == results[1].message.id
            assert sorted(result.created for result in results) == [False, True]

    assert [seq for seq, _ in await stored_rows(engine, conversation_id)] == list(range(1, 11))


async def test_bot_messages_without_client_id_are_each_stored(
    engine: AsyncEngine, chatbot_id: str, store: MessageStore
) -> None:
    conversation_id = await new_conversation(engine, chatbot_id)

    results = await asyncio.gather(
        *(store.append(Write(conversation_id, "bot", "answer")) for _ in range(3))
    )

    assert [result.message.seq for result in results] == [1, 2, 3]
    assert all(result.message.client_id is None for result in results)


async def test_only_the_first_visitor_message_makes_the_conversation_visible(
    engine: AsyncEngine, chatbot_id: str, store: MessageStore
) -> None:
    conversation_id = await new_conversation(engine, chatbot_id)

    bot = await store.append(Write(conversation_id, "bot", "greeting"))
    first, second = await asyncio.gather(
        store.append(Write(conversation_id, "visitor", "one", "c1")),
        store.append(Write(conversation_id, "visitor", "two", "c2")),
    )
    third = await store.append(Write(conversation_id, "visitor", "three", "c3"))

    assert [bot.first_visitor_message, first.first_visitor_message] == [False, True]
    assert not second.first_visitor_message
    assert not third.first_visitor_message
    assert first.status == "bot"
    assert first.chatbot_id == chatbot_id


async def test_message_times_are_recorded_on_the_conversation(
    engine: AsyncEngine, chatbot_id: str, store: MessageStore
) -> None:
    conversation_id = await new_conversation(engine, chatbot_id)

    visitor = await store.append(Write(conversation_id, "visitor", "hi", "c1"))
    operator = await store.append(Write(conversation_id, "operator", "hello", "o1", "someone"))

    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(conversations).where(conversations.c.id == conversation_id)
            )
        ).one()
    assert row.first_visitor_message_at is not None
    assert row.first_operator_message_at is not None
    assert row.first_operator_message_at > row.first_visitor_message_at
    assert row.last_message_at == row.first_operator_message_at
    assert visitor.message.created_at < operator.message.created_at


async def test_a_write_to_a_missing_conversation_fails_alone(
    engine: AsyncEngine, chatbot_id: str, store: MessageStore
) -> None:
    conversation_id = await new_conversation(engine, chatbot_id)

    good, missing = await asyncio.gather(
        store.append(Write(conversation_id, "visitor", "hi", "c1")),
        store.append(Write("no-such-conversation", "visitor", "hi", "c1")),
        return_exceptions=True,
    )

    assert not isinstance(good, BaseException)
    assert good.created
    assert isinstance(missing, ConversationGone)


async def test_writes_queued_at_close_are_committed_and_later_ones_refused(
    engine: AsyncEngine, chatbot_id: str
) -> None:
    conversation_id = await new_conversation(engine, chatbot_id)
    store = MessageStore(engine, batch_max=8, queue_size=64)
    await store.start()
    writes = [
        asyncio.create_task(store.append(Write(conversation_id, "visitor", "x", f"c{i}")))
        for i in range(30)
    ]
    await asyncio.sleep(0)

    await store.close()

    assert [stored.message.seq for stored in await asyncio.gather(*writes)] == list(range(1, 31))
    with pytest.raises(StoreUnavailable):
        await store.append(Write(conversation_id, "visitor", "late", "late"))


async def test_a_lost_database_refuses_writes_and_the_writer_keeps_running(
    postgres_url: str,
) -> None:
    async with migrated_engine(postgres_url) as engine:
        chatbot_id = (await insert_chatbot(engine))[1]
        conversation_id = await new_conversation(engine, chatbot_id)
        async with running_store(engine, batch_max=8, queue_size=64, timeout=5) as store:
            await store.append(Write(conversation_id, "visitor", "before", "c0"))
            await drop_postgres_database(postgres_url)

            for attempt in range(2):
                with pytest.raises(StoreUnavailable):
                    await store.append(Write(conversation_id, "visitor", "after", f"c{attempt}"))
            assert store.running


async def test_a_stored_message_reads_back_exactly_as_the_store_answered(
    engine: AsyncEngine, chatbot_id: str, store: MessageStore
) -> None:
    conversation_id = await new_conversation(engine, chatbot_id)
    first = await store.append(Write(conversation_id, "visitor", "hi", "c0"))
    stored = await store.append(Write(conversation_id, "operator", "héllo ✓", "c1", "someone"))
    again = await store.append(Write(conversation_id, "operator", "other", "c1", "someone"))

    async with engine.connect() as connection:
        row = (
            await connection.execute(select(messages).where(messages.c.id == stored.message.id))
        ).one()
        conversation = (
            await connection.execute(
                select(conversations).where(conversations.c.id == conversation_id)
            )
        ).one()

    assert message_view(row) == stored.message
    assert row.author_id == "someone"
    assert again.message == stored.message
    assert as_utc(conversation.last_message_at) == stored.message.created_at
    # The conversation's start comes with its first visitor message, for the operators'
    # `conversation` event, and only with it.
    assert first.first_visitor_message
    assert as_utc(conversation.started_at) == first.started_at
    assert stored.started_at is None


async def _stored_while_the_loop_is_blocked(
    sqlite_url: str, *, writes: int, batch_max: int, queue_size: int, expected: int
) -> tuple[int, MessageStore, list[int]]:
    """Queue `writes` appends, then block the event loop while counting the stored rows until
    `expected` are there (or 20 s pass); then let the appends finish.
    Returns (count, store, seqs in send order)."""
    async with migrated_engine(sqlite_url) as engine:
        conversation_id = await new_conversation(engine, (await insert_chatbot(engine))[1])
        async with running_store(engine, batch_max=batch_max, queue_size=queue_size) as store:
            appends = [
                asyncio.create_task(store.append(Write(conversation_id, "visitor", "x", f"c{i}")))
                for i in range(writes)
            ]
            await asyncio.sleep(0)  # each append ran until it waits (for its commit, or room)
            await asyncio.sleep(0)  # the accepted ones went to the writer process in one frame

            # The loop stays blocked here: only the writer process can make progress. The
            # deadline is generous (a loaded machine); the count, not the time, is the check.
            path = sqlite_url.removeprefix("sqlite:///")
            deadline = time.monotonic() + 20
            with closing(sqlite3.connect(path)) as database:
                while True:
                    (stored,) = database.execute("SELECT count(*) FROM messages").fetchone()
                    if stored >= expected or time.monotonic() > deadline:
                        break
                    time.sleep(0.01)

            results = await asyncio.gather(*appends)
            return stored, store, [result.message.seq for result in results]


async def test_on_sqlite_batches_commit_one_after_another_while_the_event_loop_is_busy(
    sqlite_url: str,
) -> None:
    """The writer process takes the next batch itself: a busy loop does not hold the database."""
    stored, store, seqs = await _stored_while_the_loop_is_blocked(
        sqlite_url, writes=20, batch_max=4, queue_size=64, expected=20
    )

    assert stored == 20
    assert store.stats.batches == 5
    assert seqs == list(range(1, 21))


async def test_at_most_queue_size_writes_wait_and_the_others_wait_for_room(
    sqlite_url: str,
) -> None:
    stored, _, seqs = await _stored_while_the_loop_is_blocked(
        sqlite_url, writes=10, batch_max=64, queue_size=4, expected=4
    )

    assert stored == 4  # only the four accepted writes reached the writer
    assert seqs == list(range(1, 11))


def unread_input(pid: int) -> int:
    """Bytes waiting in a process's standard input pipe (Linux: the pipe opened through /proc)."""
    descriptor = os.open(f"/proc/{pid}/fd/0", os.O_RDONLY | os.O_NONBLOCK)
    try:
        waiting = array.array("i", [0])
        fcntl.ioctl(descriptor, termios.FIONREAD, waiting)
        return waiting[0]
    finally:
        os.close(descriptor)


def writer_processes() -> list[int]:
    return sqlite_writer_processes(os.getpid())


@pytest.fixture
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(sqlite_url) as engine:
        yield engine


@pytest.fixture
async def sqlite_store(sqlite_engine: AsyncEngine) -> AsyncIterator[MessageStore]:
    async with running_store(sqlite_engine, batch_max=8, queue_size=64) as store:
        yield store


@pytest.fixture
async def stored_once(sqlite_engine: AsyncEngine, sqlite_store: MessageStore) -> str:
    """A conversation whose first message ("c0") the writer process has stored."""
    conversation_id = await new_conversation(
        sqlite_engine, (await insert_chatbot(sqlite_engine))[1]
    )
    await sqlite_store.append(Write(conversation_id, "visitor", "before", "c0"))
    return conversation_id


async def test_a_writer_process_that_dies_is_replaced_and_its_unanswered_writes_refused(
    sqlite_engine: AsyncEngine, sqlite_store: MessageStore, stored_once: str
) -> None:
    conversation_id = stored_once
    (writer,) = writer_processes()

    os.kill(writer, signal.SIGSTOP)  # it receives the next write but cannot answer
    unanswered = asyncio.create_task(
        sqlite_store.append(Write(conversation_id, "visitor", "x", "c1"))
    )
    await until(
        lambda: unread_input(writer) > 0, 10, "the write never reached the writer's input pipe"
    )
    os.kill(writer, signal.SIGKILL)

    with pytest.raises(StoreUnavailable):
        await unanswered
    again = await asyncio.wait_for(
        sqlite_store.append(Write(conversation_id, "visitor", "x", "c1")), 10
    )
    after = await sqlite_store.append(Write(conversation_id, "visitor", "after", "c2"))

    assert writer_processes() not in ([], [writer])
    assert (again.created, again.message.seq, after.message.seq) == (True, 2, 3)
    assert await stored_rows(sqlite_engine, conversation_id) == [(1, "c0"), (2, "c1"), (3, "c2")]


async def test_the_writer_process_ignores_the_interrupt_a_terminal_sends_to_the_group(
    sqlite_store: MessageStore, stored_once: str
) -> None:
    conversation_id = stored_once
    (writer,) = writer_processes()

    os.kill(writer, signal.SIGINT)
    os.kill(writer, signal.SIGTERM)
    stored = await sqlite_store.append(Write(conversation_id, "visitor", "after", "c1"))

    assert writer_processes() == [writer]
    assert stored.message.seq == 2


async def test_closing_the_store_ends_its_writer_process(sqlite_engine: AsyncEngine) -> None:
    store = MessageStore(sqlite_engine, batch_max=8, queue_size=64)
    await store.start()
    (writer,) = writer_processes()

    await store.close()

    assert writer_processes() == []
    assert not Path(f"/proc/{writer}").exists()


async def test_while_no_writer_process_can_start_writes_are_refused_not_kept_waiting(
    sqlite_store: MessageStore, stored_once: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation_id = stored_once
    monkeypatch.setattr("sys.executable", "/nonexistent/python")
    (writer,) = writer_processes()
    os.kill(writer, signal.SIGKILL)

    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(
            sqlite_store.append(Write(conversation_id, "visitor", "x", "c1")), 10
        )
    monkeypatch.undo()
    stored = await asyncio.wait_for(
        sqlite_store.append(Write(conversation_id, "visitor", "x", "c1")), 10
    )

    assert (stored.created, stored.message.seq) == (True, 2)


async def test_the_writer_process_yields_the_cpu_to_the_event_loop_when_handed_writes(
    sqlite_store: MessageStore,
) -> None:
    with pytest.raises(ConversationGone):  # answered: the process has set itself up
        await sqlite_store.append(Write("no-such-conversation", "visitor", "x", "c0"))
    (writer,) = writer_processes()

    assert os.sched_getscheduler(writer) == os.SCHED_BATCH
