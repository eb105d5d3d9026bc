"""Retention: `retention_days`, the hourly job on one instance at a time, and `chatbot purge`."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from api_support import error_of
from privacy_support import Owner, chat, closed_with, owner_with_chatbot, rows_of, visitor_chats
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot import keys
from chatbot.metrics import metrics_of
from chatbot.privacy.purge_job import PURGE_LOCK_KEY, run_purge
from chatbot.storage.schema import conversations
from chatbot.storage.values import utcnow

from conftest import AppClient, ClientFactory
from support import run_cli


async def _age(engine: AsyncEngine, conversation_id: str, days: float) -> None:
    """Date the conversation's last message `days` ago (time is controlled through the row)."""
    when = utcnow() - timedelta(days=days)
    async with engine.begin() as connection:
        await connection.execute(
            update(conversations)
            .where(conversations.c.id == conversation_id)
            .values(last_message_at=when, started_at=when - timedelta(minutes=5))
        )


def _purged(api: AppClient) -> float:
    return metrics_of(api.app).purged_conversations_total._value.get()


async def _patch(api: AppClient, owner: Owner, body: dict[str, Any]) -> Any:
    return await api.patch(
        f"/api/chatbots/{owner.chatbot['id']}/", json=body, headers=owner.headers
    )


@pytest.fixture
async def api(make_client: ClientFactory) -> AppClient:
    return await make_client()


async def test_retention_days_is_null_by_default_and_can_be_set_and_cleared(
    api: AppClient,
) -> None:
    owner = await owner_with_chatbot(api)
    assert owner.chatbot["retention_days"] is None
    kept = await owner_with_chatbot(api, retention_days=30)
    assert kept.chatbot["retention_days"] == 30
    response = await _patch(api, owner, {"retention_days": 7})
    assert (await response.json())["retention_days"] == 7
    response = await _patch(api, owner, {"name": "Renamed"})
    assert (await response.json())["retention_days"] == 7  # untouched when not sent
    response = await _patch(api, owner, {"retention_days": 90.0})  # JSON's integer 90
    assert (await response.json())["retention_days"] == 90
    response = await _patch(api, owner, {"retention_days": None})
    assert (await response.json())["retention_days"] is None


async def test_bad_retention_days_are_refused_naming_the_field(api: AppClient) -> None:
    owner = await owner_with_chatbot(api)
    for bad in (0, -1, "x", "30", 1.5, True, [], 36_501):
        for response in (
            await _patch(api, owner, {"retention_days": bad}),
            await api.post(
                "/api/chatbots/",
                json={"name": "Bad", "retention_days": bad},
                headers=owner.headers,
            ),
        ):
            error = await error_of(response, 422)
            assert error["code"] == "validation_error", (bad, error)
            assert "retention_days" in str(error), (bad, error)
    response = await api.get(f"/api/chatbots/{owner.chatbot['id']}/", headers=owner.headers)
    assert (await response.json())["retention_days"] is None


@pytest.mark.both_stacks
async def test_the_purge_deletes_only_conversations_older_than_their_chatbots_retention(
    api: AppClient,
) -> None:
    engine = api.app[keys.ENGINE]
    owner = await owner_with_chatbot(api, retention_days=30)
    keeper = await owner_with_chatbot(api)  # no retention: keeps everything
    old = await visitor_chats(api, owner.slug, "old")
    recent = await visitor_chats(api, owner.slug, "recent")
    almost = await visitor_chats(api, owner.slug, "29 days")
    ancient_kept = await visitor_chats(api, keeper.slug, "kept forever")
    await _age(engine, old.conversation_id, 31)
    await _age(engine, almost.conversation_id, 29)
    await _age(engine, ancient_kept.conversation_id, 3650)
    before = _purged(api)

    assert await run_purge(api.app) == 1

    assert await rows_of(engine, old.conversation_id) == (0, 0, False)
    for visitor in (recent, almost, ancient_kept):
        assert await rows_of(engine, visitor.conversation_id) == (1, 3, False)
    assert _purged(api) == before + 1
    assert await run_purge(api.app) == 0  # nothing left to do
    response = await api.get("/metrics")
    assert "chatbot_purged_conversations_total 1.0" in await response.text()


async def test_the_purge_goes_in_batches_and_closes_the_purged_conversations_sockets(
    make_client: ClientFactory,
) -> None:
    api = await make_client(privacy={"purge_batch_size": 2})
    engine = api.app[keys.ENGINE]
    owner = await owner_with_chatbot(api, retention_days=1)
    old = [await visitor_chats(api, owner.slug, f"old {n}") for n in range(4)]
    async with api.ws_connect(f"/ws/chat/public/{owner.slug}/") as open_socket:
        idle = await chat(open_socket, "idle for days")
        for visitor in [*old, idle]:
            await _age(engine, visitor.conversation_id, 2)
        assert await run_purge(api.app) == 5
        assert await closed_with(open_socket) == 4004
    for visitor in [*old, idle]:
        assert await rows_of(engine, visitor.conversation_id) == (0, 0, False)


async def test_the_job_runs_by_itself_at_its_interval(make_client: ClientFactory) -> None:
    api = await make_client(privacy={"purge_interval_seconds": 1})
    engine = api.app[keys.ENGINE]
    owner = await owner_with_chatbot(api, retention_days=1)
    old = await visitor_chats(api, owner.slug, "old")
    await _age(engine, old.conversation_id, 2)

    async def gone() -> bool:
        return await rows_of(engine, old.conversation_id) == (0, 0, False)

    for _ in range(100):  # the job's next turn comes within a second
        if await gone():
            break
        await asyncio.sleep(0.1)
    assert await gone()


async def test_only_one_instance_purges_at_a_time(
    make_client: ClientFactory, postgres_url: str, redis_url: str
) -> None:
    one = await make_client(database_url=postgres_url, redis_url=redis_url)
    two = await make_client(database_url=postgres_url, redis_url=redis_url)
    engine = one.app[keys.ENGINE]
    owner = await owner_with_chatbot(one, retention_days=1)
    old = await visitor_chats(one, owner.slug, "old")
    await _age(engine, old.conversation_id, 2)
    async with engine.connect() as holder:  # another instance's run in progress
        assert await holder.scalar(text(f"SELECT pg_try_advisory_lock({PURGE_LOCK_KEY})"))
        assert await run_purge(two.app) is None
        assert await rows_of(engine, old.conversation_id) == (1, 3, False)
        await holder.execute(text(f"SELECT pg_advisory_unlock({PURGE_LOCK_KEY})"))
    assert await run_purge(two.app) == 1
    assert await rows_of(engine, old.conversation_id) == (0, 0, False)


async def test_chatbot_purge_deletes_the_expired_conversations_now(
    make_client: ClientFactory, sqlite_url: str, tmp_path: Path
) -> None:
    api = await make_client(privacy={"purge_interval_seconds": 3600})
    engine = api.app[keys.ENGINE]
    owner = await owner_with_chatbot(api, retention_days=10)
    old = await visitor_chats(api, owner.slug, "old")
    recent = await visitor_chats(api, owner.slug, "recent")
    await _age(engine, old.conversation_id, 11)
    (tmp_path / "none.yaml").write_text("{}\n")
    env = {
        "CHATBOT_DATABASE_URL": sqlite_url,
        "CHATBOT_REDIS_URL": "",
        "CHATBOT_CONFIG": str(tmp_path / "none.yaml"),
    }

    result = await asyncio.to_thread(run_cli, "purge", env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "purged 1 conversation past their retention"
    assert await rows_of(engine, old.conversation_id) == (0, 0, False)
    assert await rows_of(engine, recent.conversation_id) == (1, 3, False)
    again = await asyncio.to_thread(run_cli, "purge", env=env)
    assert again.stdout.strip() == "purged 0 conversations past their retention"


async def test_chatbot_purge_says_what_is_wrong_when_the_database_is_unreachable(
    tmp_path: Path,
) -> None:
    (tmp_path / "none.yaml").write_text("{}\n")
    env = {
        "CHATBOT_DATABASE_URL": "postgresql://nobody:secret@127.0.0.1:1/none",
        "CHATBOT_CONFIG": str(tmp_path / "none.yaml"),
    }
    result = await asyncio.to_thread(run_cli, "purge", env=env)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("chatbot: cannot purge postgresql://nobody:***@127.0.0.1:1/none")
    assert "secret" not in result.stderr
    assert "Traceback" not in result.stderr
