"""Schema migrations with Alembic, applied under a lock so that concurrent starts are safe."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# An arbitrary constant shared by every instance: the PostgreSQL advisory lock key for migrating.
ADVISORY_LOCK_KEY = 7_246_113_901


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(_current_revision)


def _upgrade(connection: Connection) -> tuple[str | None, str | None]:
    before = _current_revision(connection)
    command.upgrade(alembic_config(connection), "head")
    return before, _current_revision(connection)


async def _locked(connection: AsyncConnection, lock: bool) -> None:
    if connection.dialect.name == "postgresql":
        function = "pg_advisory_lock" if lock else "pg_advisory_unlock"
        await connection.execute(text(f"SELECT {function}(:key)"), {"key": ADVISORY_LOCK_KEY})
        await connection.commit()


async def migrate(engine: AsyncEngine) -> tuple[str | None, str | None]:
    """Apply pending migrations; returns the revisions before and after.

    On PostgreSQL a session-level advisory lock makes instances that start together take turns:
    the first migrates, the others wait and then find nothing left to do.
    """
    async with engine.connect() as connection:
        await _locked(connection, True)
        try:
            result = await connection.run_sync(_upgrade)
            await connection.commit()
        finally:
            await _locked(connection, False)
    return result
