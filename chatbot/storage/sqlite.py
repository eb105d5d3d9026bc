"""SQLite connection settings shared by the engine's connections and the message writer process.

No SQLAlchemy here: the writer process imports this and starts in a fraction of the time.
"""

from __future__ import annotations

from typing import Any

# WAL lets readers proceed while the writer commits; busy_timeout queues writers of other
# processes instead of failing with "database is locked".
PRAGMAS = (
    "journal_mode=WAL",
    "foreign_keys=ON",
    "synchronous=NORMAL",
    "busy_timeout=5000",
)


def apply_pragmas(connection: Any, pragmas: tuple[str, ...] = PRAGMAS) -> None:
    """Set `pragmas` on a `sqlite3` connection (or SQLAlchemy's adapted aiosqlite one)."""
    cursor = connection.cursor()
    try:
        for pragma in pragmas:
            cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()
