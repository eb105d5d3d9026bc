"""The async SQLAlchemy engine for SQLite (aiosqlite) or PostgreSQL (asyncpg), picked by URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from chatbot.storage.sqlite import apply_pragmas


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


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    apply_pragmas(dbapi_connection)


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
