"""`chatbot purge`: delete the conversations past their chatbot's retention now."""

from __future__ import annotations

import asyncio
import sys

from chatbot.config import Settings, mask_url


def run_purge_command(settings: Settings) -> int:
    """Purge once; prints how many conversations were deleted. Returns the exit status."""
    from chatbot.health.probes import describe_exception
    from chatbot.privacy.retention import purge_expired
    from chatbot.storage.engine import create_engine

    async def run() -> int:
        engine = create_engine(settings.database_url)
        try:
            return await purge_expired(engine, batch_size=settings.privacy.purge_batch_size)
        finally:
            await engine.dispose()

    try:
        count = asyncio.run(run())
    except Exception as exc:
        print(
            f"chatbot: cannot purge {mask_url(settings.database_url)} "
            f"({describe_exception(exc)}): check that the database is up and migrated "
            "(`chatbot migrate`)",
            file=sys.stderr,
        )
        return 1
    print(f"purged {count} conversation{'' if count == 1 else 's'} past their retention")
    return 0
