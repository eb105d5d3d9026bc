"""The event loop a server process runs on, and the garbage collector's set-up once started.

uvloop (libuv, in C) when installed and not turned off: the same asyncio API with cheaper
scheduling, sockets and timers, which matters for thousands of WebSockets per process.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

EventLoopChoice = Literal["auto", "asyncio", "uvloop"]
T = TypeVar("T")


class EventLoopUnavailable(RuntimeError):
    """The configured event loop cannot be used here."""


def uvloop_installed() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def loop_factory(choice: EventLoopChoice) -> Callable[[], asyncio.AbstractEventLoop]:
    """The factory of the loop `choice` names; `auto` is uvloop when installed."""
    if choice == "asyncio" or (choice == "auto" and not uvloop_installed()):
        return asyncio.new_event_loop
    if not uvloop_installed():
        raise EventLoopUnavailable(
            "event_loop is uvloop but uvloop is not installed: `pip install uvloop`, or set "
            "CHATBOT_EVENT_LOOP=auto"
        )
    import uvloop

    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], choice: EventLoopChoice) -> T:
    """Run `main` to completion on a new loop of the kind `choice` names."""
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(main)


def loop_name() -> str:
    """The running loop's kind, for the start-up log line."""
    module = type(asyncio.get_running_loop()).__module__
    return "uvloop" if module.startswith("uvloop") else "asyncio"


def freeze_startup_objects() -> None:
    """Keep what start-up built (modules, the app, caches) out of every later collection.

    A full collection walks every tracked object, and the app's start-up objects are so many
    that walking them paused the loop long enough to show in round-trip latencies. Frozen
    objects are never walked again; what is left is the traffic's own objects. Collect first, so
    that no start-up garbage is frozen with them.
    """
    gc.collect()
    gc.freeze()
