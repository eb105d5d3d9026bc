"""Running the app: one process serving HTTP and WebSocket until SIGINT or SIGTERM."""

from __future__ import annotations

import logging
import sys

from aiohttp import web

from chatbot.app import create_app
from chatbot.config import Settings
from chatbot.resources import StartupError

log = logging.getLogger("chatbot")


def serve(settings: Settings, *, demo: bool = False) -> int:
    app = create_app(settings)
    if demo:
        from chatbot.demo import add_demo_seeding

        add_demo_seeding(app)

    async def announce(_app: web.Application) -> None:
        log.info("serving on http://%s:%d", settings.host, settings.port)

    app.on_startup.append(announce)
    try:
        web.run_app(
            app,
            host=settings.host,
            port=settings.port,
            access_log=None,
            print=None,
            shutdown_timeout=10.0,
        )
    except StartupError as exc:
        print(f"chatbot: {exc}", file=sys.stderr)
        return 1
    return 0
