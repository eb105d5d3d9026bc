"""Storage: the same migrations and constraints on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from db_support import FIRST_CHATBOTS, FIRST_CONVERSATIONS
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.storage import schema
from chatbot.storage.engine import create_engine, driver_url
from chatbot.storage.migrations import (
    alembic_config,
    current_revision,
    head_revision,
    migrate,
)
from chatbot.storage.values import new_id, utcnow, visitor_id_of
from chatbot.workspaces.repository import insert_workspace

from conftest import create_postgres_database, drop_postgres_database

FIRST_REVISION = "0001"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await migrate(engine)
    yield engine
    await engine.dispose()


def test_new_ids_are_uuids_in_the_order_they_were_made() -> None:
    ids = [new_id() for _ in range(2000)]

    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(value).version == 7 for value in ids)
    # Time-ordered (within one millisecond too): new rows append to their primary-key index.
    assert sorted(ids) == ids


def test_contract_urls_map_to_async_drivers() -> None:
    assert driver_url("sqlite:///./data/x.db") == "sqlite+aiosqlite:///./data/x.db"
    assert driver_url("sqlite:////abs/x.db") == "sqlite+aiosqlite:////abs/x.db"
    assert driver_url("postgresql://u:p@h:5/d") == "postgresql+asyncpg://u:p@h:5/d"
    assert driver_url("postgres://u@h/d") == "postgresql+asyncpg://u@h/d"
    with pytest.raises(ValueError, match="unsupported"):
        driver_url("mysql://h/d")


async def test_migrations_create_every_table_and_are_idempotent(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert set(schema.metadata.tables) <= tables
    assert await current_revision(engine) == head_revision()
    before, after = await migrate(engine)
    assert before == after == head_revision()


async def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_creates_its_folder(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/nested/deeper/chatbot.db")
    try:
        async with engine.connect() as connection:
            journal = (await connection.execute(text("PRAGMA journal_mode"))).scalar()
            foreign_keys = (await connection.execute(text("PRAGMA foreign_keys"))).scalar()
        assert journal == "wal"
        assert foreign_keys == 1
        assert (tmp_path / "nested" / "deeper" / "chatbot.db").exists()
    finally:
        await engine.dispose()


async def test_concurrent_migrations_on_one_empty_postgres_database_apply_once() -> None:
    url = await create_postgres_database(migrated=False)
    engines = [create_engine(url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(engine) for engine in engines))
        head = head_revision()
        assert all(after == head for _, after in results)
        assert sum(1 for before, _ in results if before is None) == 1
        async with engines[0].connect() as connection:
            rows = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
        assert rows == [(head,)]
    finally:
        for engine in engines:
            await engine.dispose()
        await drop_postgres_database(url)


async def _conversation(engine: AsyncEngine, *, first_schema: bool = False) -> str:
    """A user's chatbot's conversation: at the head schema, in the user's workspace; or at
    the first revision's schema."""
    chatbots = FIRST_CHATBOTS if first_schema else schema.chatbots
    now = utcnow()
    user, bot, conversation = new_id(), new_id(), new_id()
    async with engine.begin() as connection:
        await connection.execute(
            insert(schema.users).values(
                id=user,
                email=f"{user}@example.com",
                name="",
                password_hash="x",
                created_at=now,
                updated_at=now,
            )
        )
        workspace = {}
        if not first_schema:
            made = await insert_workspace(connection, name="Workspace", owner_id=user)
            workspace = {"workspace_id": made.workspace_id}
        await connection.execute(
            insert(chatbots).values(
                id=bot,
                **workspace,
                owner_id=user,
                slug=f"bot-{bot[:8]}",
                name="Bot",
                greeting="",
                allowed_origins=[],
                brain={},
                theme={},
                created_at=now,
                updated_at=now,
            )
        )
        values = {
            "id": conversation,
            "chatbot_id": bot,
            "visitor_token_hash": new_id(),
            "status": "bot",
            "last_seq": 0,
            "started_at": now,
            "handed_off": False,
        }
        if first_schema:
            await connection.execute(insert(FIRST_CONVERSATIONS).values(visitor_data={}, **values))
        else:
            await connection.execute(insert(schema.conversations).values(visitor_data={}, **values))
    return conversation


def _message(conversation: str, seq: int, client_id: str | None) -> dict[str, object]:
    return {
        "id": new_id(),
        "conversation_id": conversation,
        "seq": seq,
        "role": "visitor",
        "text": "hi",
        "client_id": client_id,
        "created_at": utcnow(),
    }


async def test_messages_are_unique_per_conversation_on_seq_and_client_id(
    engine: AsyncEngine,
) -> None:
    conversation = await _conversation(engine)
    async with engine.begin() as connection:
        await connection.execute(
            insert(schema.messages),
            [
                _message(conversation, 1, "a"),
                _message(conversation, 2, None),
                _message(conversation, 3, None),
            ],
        )
    for duplicate in (_message(conversation, 1, "b"), _message(conversation, 4, "a")):
        with pytest.raises(IntegrityError):
            async with engine.begin() as connection:
                await connection.execute(insert(schema.messages).values(**duplicate))
    async with engine.connect() as connection:
        count = len((await connection.execute(select(schema.messages.c.id))).all())
    assert count == 3


async def test_deleting_a_chatbot_cascades_to_its_conversations_and_messages(
    engine: AsyncEngine,
) -> None:
    conversation = await _conversation(engine)
    async with engine.begin() as connection:
        await connection.execute(insert(schema.messages).values(**_message(conversation, 1, "a")))
        await connection.execute(schema.chatbots.delete())
    async with engine.connect() as connection:
        assert (await connection.execute(select(schema.messages))).first() is None
        assert (await connection.execute(select(schema.conversations))).first() is None


async def test_upgrading_from_the_first_schema_keeps_messages_rules_and_visitors(
    empty_database_url: str,
) -> None:
    engine = create_engine(empty_database_url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(
                lambda sync: command.upgrade(alembic_config(sync), FIRST_REVISION)
            )
            await connection.commit()
        conversation = await _conversation(engine, first_schema=True)
        async with engine.begin() as connection:
            await connection.execute(
                insert(schema.messages),
                [_message(conversation, 1, "a"), _message(conversation, 2, None)],
            )

        assert await migrate(engine) == (FIRST_REVISION, head_revision())

        async with engine.begin() as connection:  # many messages without a client_id: fine
            await connection.execute(
                insert(schema.messages).values(**_message(conversation, 3, None))
            )
        with pytest.raises(IntegrityError):
            async with engine.begin() as connection:
                await connection.execute(
                    insert(schema.messages).values(**_message(conversation, 4, "a"))
                )
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(schema.messages.c.seq, schema.messages.c.client_id).order_by("seq")
            )
            assert rows.all() == [(1, "a"), (2, None), (3, None)]
            # Conversations stored before visitor ids existed get theirs from their token.
            c = schema.conversations.c
            stored = (await connection.execute(select(c.visitor_token_hash, c.visitor_id))).one()
            assert stored.visitor_id == visitor_id_of(stored.visitor_token_hash)
    finally:
        await engine.dispose()
