"""Shared fixtures: real SQLite, PostgreSQL and Redis, and the real app.

PostgreSQL and Redis must be running: their fixtures fail (never skip) when they are not,
so that CI cannot pass without exercising them. Each test gets its own PostgreSQL database
(copied from a migrated template) and its own Redis key prefix, so runs never share state.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient

from chatbot.app import create_app
from chatbot.config import Settings
from chatbot.storage.engine import create_engine
from chatbot.storage.migrations import migrate

POSTGRES_URL = os.environ.get(
    "CHATBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("CHATBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-0123456789"
# `CHATBOT_CHAT__FRAME_WRITER=plain pytest tests/chat` runs the chat tests with the plain frame
# writer (CI does, after the whole suite): the variable reaches the apps the tests build, as it
# reaches the server processes they start.
FRAME_WRITER = os.environ.get("CHATBOT_CHAT__FRAME_WRITER")

AppClient = TestClient[web.Request, web.Application]


def _server_url(database: str) -> str:
    return POSTGRES_URL.rsplit("/", 1)[0] + "/" + database


async def _admin() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(POSTGRES_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL is required for these tests and is unreachable at {POSTGRES_URL}: {exc}. "
            "Start it (see README) or set CHATBOT_TEST_POSTGRES_URL.",
            pytrace=False,
        )


_template_name: str | None = None


async def _template() -> str:
    """A migrated database that every test database is copied from (made once per run)."""
    global _template_name
    if _template_name is None:
        name = f"chatbot_tpl_{uuid.uuid4().hex[:12]}"
        admin = await _admin()
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        engine = create_engine(_server_url(name))
        try:
            await migrate(engine)
        finally:
            await engine.dispose()
        _template_name = name
    return _template_name


async def create_postgres_database(*, migrated: bool = True) -> str:
    """A fresh database; returns its URL. Dropped by `drop_postgres_database`."""
    name = f"chatbot_test_{uuid.uuid4().hex[:12]}"
    template = f' TEMPLATE "{await _template()}"' if migrated else ""
    admin = await _admin()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"{template}')
    finally:
        await admin.close()
    return _server_url(name)


async def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = await _admin()
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database with no tables yet, on each engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/chatbot.db"
        return
    url = await create_postgres_database(migrated=False)
    yield url
    await drop_postgres_database(url)


@pytest.fixture(scope="session", autouse=True)
def _drop_template() -> Iterator[None]:
    yield
    if _template_name is not None:
        asyncio.run(drop_postgres_database(_server_url(_template_name)))


async def _require_redis() -> None:
    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        await client.ping()
    except (OSError, aioredis.RedisError) as exc:
        pytest.fail(
            f"Redis is required for these tests and is unreachable at {REDIS_URL}: {exc}. "
            "Start it (see README) or set CHATBOT_TEST_REDIS_URL.",
            pytrace=False,
        )
    finally:
        await client.aclose()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database for this test."""
    url = await create_postgres_database()
    yield url
    await drop_postgres_database(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/chatbot.db"


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Each storage test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/chatbot.db"
        return
    url = await create_postgres_database()
    yield url
    await drop_postgres_database(url)


@pytest.fixture
async def redis_url() -> str:
    await _require_redis()
    return REDIS_URL


@pytest.fixture(params=["memory", "redis"])
async def backend_redis_url(request: pytest.FixtureRequest) -> str:
    """Each backend test runs once on the in-process backends and once on Redis."""
    if request.param == "memory":
        return ""
    await _require_redis()
    return REDIS_URL


@pytest.fixture
def redis_prefix() -> str:
    """A key and channel namespace of this test's own."""
    return f"test{uuid.uuid4().hex[:12]}"


SettingsFactory = Callable[..., Settings]


STACKS = ("sqlite", "postgres+redis")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_stacks: runs on SQLite and on PostgreSQL with Redis")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # The two storage stacks write messages through different code: tests marked
    # `both_stacks` (the socket protocol's) run on each.
    if metafunc.definition.get_closest_marker("both_stacks") and "stack" in metafunc.fixturenames:
        metafunc.parametrize("stack", STACKS, indirect=True)


@pytest.fixture
def stack(request: pytest.FixtureRequest, sqlite_url: str) -> dict[str, str]:
    """The database and Redis of a test app: SQLite with in-process backends, or (for tests
    marked `both_stacks`) also a fresh PostgreSQL database with Redis."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return {"database_url": sqlite_url, "redis_url": ""}
    return {
        "database_url": request.getfixturevalue("postgres_url"),
        "redis_url": request.getfixturevalue("redis_url"),
    }


@pytest.fixture
def make_settings(stack: dict[str, str], redis_prefix: str) -> SettingsFactory:
    """Settings for a test app on the test's stack, with the given overrides."""

    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            **stack,
            "redis_prefix": redis_prefix,
            "secret_key": TEST_SECRET_KEY,
            "access_log": False,
            **overrides,
        }
        if FRAME_WRITER is not None:  # a test's own choice wins
            values["chat"] = {"frame_writer": FRAME_WRITER, **values.get("chat", {})}
        return Settings.model_validate(values)

    return factory


ClientFactory = Callable[..., Awaitable[AppClient]]


@pytest.fixture
def make_client(
    aiohttp_client: Callable[..., Awaitable[AppClient]], make_settings: SettingsFactory
) -> ClientFactory:
    """Start the real app with the given setting overrides and return a client for it."""

    async def factory(**overrides: Any) -> AppClient:
        return await aiohttp_client(create_app(make_settings(**overrides)))

    return factory


@pytest.fixture
async def client(make_client: ClientFactory) -> AppClient:
    """The app on SQLite with in-process backends."""
    return await make_client()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped test fails the run: every test must run against the real services."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\n{len(skipped)} test(s) skipped: this suite must run every test; failing the run.")
