"""The async SQLAlchemy engine for SQLite (aiosqlite) or PostgreSQL (asyncpg), picked by URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def is_sqlite(database_url: str) -> bool:
    return database_url.startswith("sqlite")


def driver_url(database_url: str) -> str:
    """Map the contract's URL (`sqlite:///PATH`, `postgresql://...`) to SQLAlchemy's driver URL."""
    if database_url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + database_url.removeprefix("sqlite:///")
    for prefix in ("postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+asyncpg://" + database_url.removeprefix(prefix)
    raise ValueError(f"unsupported database URL scheme: {database_url.split(':', 1)[0]}")


# WAL lets readers proceed while the writer commits; busy_timeout queues writers of other
# processes instead of failing with "database is locked".
_SQLITE_PRAGMAS = (
    "journal_mode=WAL",
    "foreign_keys=ON",
    "synchronous=NORMAL",
    "busy_timeout=5000",
)


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any = None) -> None:
    """Set the pragmas on a new `sqlite3` connection (or SQLAlchemy's adapted aiosqlite one)."""
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


def create_engine(database_url: str, *, connect_timeout: float = 5.0) -> AsyncEngine:
    """An engine for `database_url`; creates the SQLite file's folder when needed."""
    url = make_url(driver_url(database_url))
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, pool_size=5, max_overflow=5, pool_pre_ping=False)
        event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        connect_args={"timeout": connect_timeout, "command_timeout": 30},
    )


def sqlite_writer_engine(url: URL) -> Engine:
    """A synchronous engine of one connection on the SQLite file of `url`, for the message writer.

    Each transaction begins with BEGIN IMMEDIATE: the write lock is taken before the first read,
    so a batch never fails on upgrading a read lock that another process's commit made stale.
    """
    database = url.database
    if not database or database == ":memory:":
        raise ValueError("the chat store needs an SQLite file, not an in-memory database")
    engine = create_sync_engine(
        URL.create("sqlite", database=database), pool_size=1, max_overflow=0
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver's own BEGIN would be deferred
        _set_sqlite_pragmas(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
