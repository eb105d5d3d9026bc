"""The message store stores a conversation with its first visitor message, in one transaction.

Runs on SQLite (the writer process) and on PostgreSQL (the batch writer on the loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from chat_helpers import insert_chatbot, migrated_engine
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.chat.conversations import store_conversation, token_hash
from chatbot.chat.store import ConversationGone, MessageStore, Stored, Write
from chatbot.chat.writes import NewConversation
from chatbot.storage.schema import chatbots, conversations, messages
from chatbot.storage.values import as_utc, new_id, utcnow


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(database_url) as engine:
        yield engine


@pytest.fixture
async def chatbot_id(engine: AsyncEngine) -> str:
    return (await insert_chatbot(engine))[1]


@pytest.fixture
async def store(engine: AsyncEngine) -> AsyncIterator[MessageStore]:
    store = MessageStore(engine, batch_max=64, queue_size=256)
    await store.start()
    yield store
    await store.close()


def unstored(chatbot_id: str, greeting: str = "Hello!", token: str = "") -> NewConversation:
    return NewConversation(
        new_id(), chatbot_id, token_hash(token or new_id()), utcnow(), greeting, {"page": "/"}
    )


def first_message(new: NewConversation, text: str = "hi", client_id: str = "c1") -> Write:
    return Write(new.id, "visitor", text, client_id, new_conversation=new)


async def rows(engine: AsyncEngine, conversation_id: str) -> list[tuple[str, int, str]]:
    async with engine.connect() as connection:
        result = await connection.execute(
            select(messages.c.id, messages.c.seq, messages.c.role)
            .where(messages.c.conversation_id == conversation_id)
            .order_by(messages.c.seq)
        )
        return [(row.id, row.seq, row.role) for row in result]


async def conversation_count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(conversations)) or 0)


async def test_a_first_message_stores_its_conversation_and_greeting_before_it(
    engine: AsyncEngine, chatbot_id: str, store: MessageStore
) -> None:
    new = unstored(chatbot_id)
    greeting = new.greeting
    assert greeting is not None

    stored = await store.append(first_message(new))

    assert (stored.created, stored.message.seq, stored.first_visitor_message) == (True, 2, True)
    assert stored.started_at == new.started_at
    assert await rows(engine, new.id) == [
        (greeting.id, 1, "bot"),
        (stored.message.id, 2, "visitor"),
    ]
    async with engine.connect() as connection:
        row = (
            await connection.execute(select(conversations).where(conversations.c.id == new.id))
        ).one()
        greeting_at = await connection.scalar(
            select(messages.c.created_at).where(messages.c.id == greeting.id)
        )
    assert (row.chatbot_id, row.visitor_token_hash, row.last_seq) == (
        chatbot_id,
        new.visitor_token_hash,
        2,
    )
    assert as_utc(row.started_at) == new.started_at == as_utc(greeting_at)
    assert row.visitor_data == {"page": "/"}


async def test_first_messages_of_one_conversation_at_once_store_it_once(
    engine: AsyncEngine, chatbot_id: str, store: MessageStore
) -> None:
    new = unstored(chatbot_id)

    results = await asyncio.gather(
        *(store.append(first_message(new, f"m{i}", f"c{i}")) for i in range(5))
    )

    assert sorted(result.message.seq for result in results) == [2, 3, 4, 5, 6]
    assert [result.first_visitor_message for result in results].count(True) == 1
    assert [seq for _, seq, _ in await rows(engine, new.id)] == [1, 2, 3, 4, 5, 6]
    assert await conversation_count(engine) == 1


async def test_a_first_message_sent_again_after_it_was_stored_stores_nothing_new(
    engine: AsyncEngine, chatbot_id: str, store: MessageStore
) -> None:
    new = unstored(chatbot_id, greeting="")

    stored = await store.append(first_message(new))
    again = await store.append(first_message(new))

    assert isinstance(again, Stored)
    assert (again.created, again.message) == (False, stored.message)
    assert await rows(engine, new.id) == [(stored.message.id, 1, "visitor")]


async def test_a_conversation_id_stored_under_another_token_is_refused(
    engine: AsyncEngine, chatbot_id: str, store: MessageStore
) -> None:
    mine = unstored(chatbot_id)
    await store.append(first_message(mine, client_id="mine"))
    forged = NewConversation(
        mine.id, chatbot_id, token_hash("another token"), utcnow(), "Hello!", {}
    )

    with pytest.raises(ConversationGone):
        await store.append(first_message(forged, client_id="mine"))
    with pytest.raises(ConversationGone):
        await store.append(first_message(forged, client_id="other"))
    assert not await store_conversation(engine, forged)

    assert [seq for _, seq, _ in await rows(engine, mine.id)] == [1, 2]


async def test_a_first_message_whose_chatbot_is_gone_stores_nothing(
    engine: AsyncEngine, chatbot_id: str, store: MessageStore
) -> None:
    new = unstored(chatbot_id)
    async with engine.begin() as connection:
        await connection.execute(delete(chatbots).where(chatbots.c.id == chatbot_id))

    with pytest.raises(ConversationGone):
        await store.append(first_message(new))

    assert not await store_conversation(engine, new)
    assert await conversation_count(engine) == 0


async def test_a_stored_conversation_is_not_stored_again(
    engine: AsyncEngine, chatbot_id: str
) -> None:
    new = unstored(chatbot_id)

    assert await store_conversation(engine, new)
    assert await store_conversation(engine, new)

    greeting = new.greeting
    assert greeting is not None
    assert await rows(engine, new.id) == [(greeting.id, 1, "bot")]
    assert await conversation_count(engine) == 1
