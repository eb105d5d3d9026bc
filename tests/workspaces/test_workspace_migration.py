"""Migration 0003 on a database at 0002 holding data: every account gets its own workspace.

Run on SQLite and on PostgreSQL, each from a database with no tables: migrated to 0002, filled
with two accounts (one with two chatbots, a conversation and knowledge), then to the head.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from db_support import FIRST_CHATBOTS, FIRST_CONVERSATIONS
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.storage import schema
from chatbot.storage.engine import create_engine
from chatbot.storage.migrations import alembic_config, head_revision, migrate
from chatbot.storage.values import new_id, utcnow

from conftest import create_postgres_database, drop_postgres_database

PREVIOUS = "0002"


@pytest.fixture(params=["sqlite", "postgres"])
async def previous_engine(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    """An engine on a database migrated to the revision before workspaces."""
    url = f"sqlite:///{tmp_path}/chatbot.db"
    if request.param == "postgres":
        url = await create_postgres_database(migrated=False)
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), PREVIOUS))
            await connection.commit()
        yield engine
    finally:
        await engine.dispose()
        if request.param == "postgres":
            await drop_postgres_database(url)


async def _user(engine: AsyncEngine, name: str) -> str:
    user_id, now = new_id(), utcnow()
    async with engine.begin() as connection:
        await connection.execute(
            insert(schema.users).values(
                id=user_id,
                email=f"{name.lower() or 'nameless'}-{user_id[-6:]}@example.com",
                name=name,
                password_hash="x",
                created_at=now,
                updated_at=now,
            )
        )
    return user_id


async def _chatbot(engine: AsyncEngine, owner_id: str) -> str:
    chatbot_id, now = new_id(), utcnow()
    async with engine.begin() as connection:
        # The 0002 schema has no workspace_id: only its columns are named.
        await connection.execute(
            insert(FIRST_CHATBOTS).values(
                id=chatbot_id,
                owner_id=owner_id,
                slug=f"bot-{chatbot_id[-12:]}",
                name="Bot",
                greeting="",
                allowed_origins=[],
                brain={},
                theme={},
                created_at=now,
                updated_at=now,
            )
        )
        await connection.execute(
            insert(FIRST_CONVERSATIONS).values(
                id=new_id(),
                chatbot_id=chatbot_id,
                visitor_token_hash=new_id(),
                status="bot",
                last_seq=0,
                visitor_data={},
                started_at=now,
                handed_off=False,
            )
        )
        await connection.execute(
            insert(schema.knowledge_entries).values(
                id=new_id(),
                chatbot_id=chatbot_id,
                kind="qa",
                question="q",
                answer="a",
                created_at=now,
                updated_at=now,
            )
        )
    return chatbot_id


async def test_every_account_gets_its_own_workspace_holding_its_chatbots(
    previous_engine: AsyncEngine,
) -> None:
    engine = previous_engine
    alice = await _user(engine, "Alice")
    nameless = await _user(engine, "")
    alice_bots = {await _chatbot(engine, alice), await _chatbot(engine, alice)}
    nameless_bot = await _chatbot(engine, nameless)

    assert await migrate(engine) == (PREVIOUS, head_revision())

    async with engine.connect() as connection:
        members = (
            await connection.execute(
                select(
                    schema.workspace_members.c.user_id,
                    schema.workspace_members.c.role,
                    schema.workspaces.c.id,
                    schema.workspaces.c.name,
                ).join(
                    schema.workspaces,
                    schema.workspaces.c.id == schema.workspace_members.c.workspace_id,
                )
            )
        ).all()
        rows = await connection.execute(
            select(schema.chatbots.c.id, schema.chatbots.c.workspace_id)
        )
        placed = {row.id: row.workspace_id for row in rows}
        conversations = (await connection.execute(select(schema.conversations.c.id))).all()
        entries = (await connection.execute(select(schema.knowledge_entries.c.id))).all()
    by_user = {row.user_id: row for row in members}
    assert len(members) == 2
    assert set(by_user) == {alice, nameless}
    assert {row.role for row in members} == {"owner"}
    assert by_user[alice].name == "Alice's workspace"
    assert by_user[nameless].name.startswith("nameless-")
    assert by_user[alice].id != by_user[nameless].id
    assert {placed[bot] for bot in alice_bots} == {by_user[alice].id}
    assert placed[nameless_bot] == by_user[nameless].id
    # Nothing under the chatbots was lost on the way (SQLite must not copy the table).
    assert len(conversations) == 3
    assert len(entries) == 3


async def test_after_the_migration_a_chatbot_needs_a_workspace(
    previous_engine: AsyncEngine,
) -> None:
    engine = previous_engine
    owner = await _user(engine, "Bob")
    await migrate(engine)
    now = utcnow()
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(
                insert(schema.chatbots).values(
                    id=new_id(),
                    owner_id=owner,
                    workspace_id=None,
                    slug="no-workspace",
                    name="Bot",
                    greeting="",
                    allowed_origins=[],
                    brain={},
                    theme={},
                    created_at=now,
                    updated_at=now,
                )
            )
    with pytest.raises(IntegrityError):  # a workspace that does not exist
        async with engine.begin() as connection:
            await connection.execute(
                insert(schema.chatbots).values(
                    id=new_id(),
                    owner_id=owner,
                    workspace_id=new_id(),
                    slug="no-such-workspace",
                    name="Bot",
                    greeting="",
                    allowed_origins=[],
                    brain={},
                    theme={},
                    created_at=now,
                    updated_at=now,
                )
            )
