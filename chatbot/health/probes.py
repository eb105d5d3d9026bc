"""Dependency probes shared by `/readyz` and `chatbot check`, each bounded by a timeout."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def probe_database(engine: AsyncEngine, timeout: float) -> str | None:
    """None when a query round trip works, else a short reason."""
    try:
        async with asyncio.timeout(timeout):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except TimeoutError:
        return f"no answer within {timeout:g}s"
    except Exception as exc:
        return describe_exception(exc)
    return None


async def probe_redis(client: Redis, timeout: float) -> str | None:
    try:
        async with asyncio.timeout(timeout):
            await client.ping()
    except TimeoutError:
        return f"no answer within {timeout:g}s"
    except Exception as exc:
        return describe_exception(exc)
    return None


def describe_exception(exc: BaseException) -> str:
    """One line a tired operator can read: the error's message without a traceback."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    return message[:300]
