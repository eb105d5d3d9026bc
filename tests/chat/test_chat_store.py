"""The message store: seqs from the database, group commit, client_id idempotency, outages."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing

import pytest
from chat_helpers import insert_chatbot, migrated_engine, new_conversation
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.chat.store import ConversationGone, MessageStore, StoreUnavailable, Write
from chatbot.conversations.repository import message_view
from chatbot.storage.engine import sqlite_writer_engine
from chatbot.storage.schema import conversations, messages
from chatbot.storage.values import as_utc

from conftest import drop_postgres_database
from support import until


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


async def test_at_most_queue_size_writes_wait_and_the_others_wait_for_room(
    sqlite_url: str,
) -> None:
    async with migrated_engine(sqlite_url) as engine:
        conversation_id = await new_conversation(engine, (await insert_chatbot(engine))[1])
        async with running_store(engine, batch_max=64, queue_size=4) as store:
            appends = [
                asyncio.create_task(store.append(Write(conversation_id, "visitor", "x", f"c{i}")))
                for i in range(10)
            ]
            await asyncio.sleep(0)  # each append ran until it waits (for its commit, or room)
            await asyncio.sleep(0)  # the accepted ones went to the writer thread in one batch

            # The loop stays blocked here: only the batch handed over can be committed. The
            # deadline is generous (a loaded machine); the count, not the time, is the check.
            deadline = time.monotonic() + 20
            with closing(sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))) as database:
                while True:
                    (stored,) = database.execute("SELECT count(*) FROM messages").fetchone()
                    if stored >= 4 or time.monotonic() > deadline:
                        break
                    time.sleep(0.01)
            seqs = [result.message.seq for result in await asyncio.gather(*appends)]

    assert stored == 4  # only the four accepted writes reached the writer, in one batch
    assert seqs == list(range(1, 11))


@pytest.fixture
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(sqlite_url) as engine:
        yield engine


def writer_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("chat-sqlite-writer")]


async def test_on_sqlite_a_locked_database_refuses_writes_and_the_writer_keeps_running(
    sqlite_url: str, sqlite_engine: AsyncEngine
) -> None:
    """Another process holds the write lock past the store's timeout: the write is refused,
    and sent again with its client_id once the lock is free it is stored once."""
    conversation_id = await new_conversation(
        sqlite_engine, (await insert_chatbot(sqlite_engine))[1]
    )
    async with running_store(sqlite_engine, batch_max=8, queue_size=64, timeout=0.5) as store:
        await store.append(Write(conversation_id, "visitor", "before", "c0"))
        with closing(sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))) as other:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(StoreUnavailable):
                await store.append(Write(conversation_id, "visitor", "x", "c1"))
            other.rollback()
        again = await asyncio.wait_for(
            store.append(Write(conversation_id, "visitor", "x", "c1")), 10
        )
        after = await store.append(Write(conversation_id, "visitor", "after", "c2"))

        assert store.running
    assert (again.message.seq, after.message.seq) == (2, 3)
    assert await stored_rows(sqlite_engine, conversation_id) == [(1, "c0"), (2, "c1"), (3, "c2")]


def test_the_sqlite_writer_takes_the_write_lock_when_its_transaction_begins(
    sqlite_url: str,
) -> None:
    """BEGIN IMMEDIATE: a batch never reads first and then fails to upgrade to the write lock
    because another process committed in between."""
    path = sqlite_url.removeprefix("sqlite:///")
    engine = sqlite_writer_engine(make_url(f"sqlite+aiosqlite:///{path}"))
    try:
        with engine.begin() as connection, closing(sqlite3.connect(path, timeout=0)) as other:
            connection.execute(select(1))
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
    finally:
        engine.dispose()


def test_the_sqlite_writer_needs_a_database_file() -> None:
    with pytest.raises(ValueError, match="SQLite file"):
        sqlite_writer_engine(make_url("sqlite+aiosqlite:///:memory:"))


async def test_closing_the_store_ends_its_sqlite_writer_thread(sqlite_engine: AsyncEngine) -> None:
    conversation_id = await new_conversation(
        sqlite_engine, (await insert_chatbot(sqlite_engine))[1]
    )
    store = MessageStore(sqlite_engine, batch_max=8, queue_size=64)
    await store.start()
    await store.append(Write(conversation_id, "visitor", "x", "c0"))
    assert writer_threads()

    await store.close()

    await until(lambda: not writer_threads(), 10, "the writer thread is still running")
