"""Running the app: one process, or `--workers N` processes sharing one port (SO_REUSEPORT).

On SIGTERM or SIGINT a process stops accepting connections, runs the app's on_shutdown hooks
(the chat closes its sockets with 1001 so that clients reconnect elsewhere and resume), gives
requests and answers in flight up to `shutdown_timeout_seconds`, closes its resources and
exits 0. In workers mode a supervisor starts the workers, forwards the signals and replaces a
worker that dies; it exits non-zero when a worker cannot start.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType

from aiohttp import web

from chatbot import event_loop
from chatbot.app import create_app
from chatbot.config import Settings, mask_url
from chatbot.exposure import exposed_key_problem
from chatbot.health.probes import describe_exception
from chatbot.http.malformed import JsonErrorAppRunner
from chatbot.resources import StartupError

log = logging.getLogger("chatbot")

WORKER_HEADER = "X-Chatbot-Worker"
_READY = "ready"
# How often a worker checks that its supervisor is still alive.
_ORPHAN_CHECK_SECONDS = 1.0
# Migrations may hold the start of every worker but one (they take turns on a lock).
_START_GRACE_SECONDS = 120.0
# After the shutdown deadline, the time a worker gets to close its resources before a kill.
_CLEANUP_GRACE_SECONDS = 15.0


def serve(settings: Settings, *, demo: bool = False) -> int:
    """Serve until SIGTERM or SIGINT; returns the exit status (0 after a clean shutdown)."""
    if (problem := exposed_key_problem(settings)) is not None:
        log.warning("%s", problem)
    if settings.workers == 1:
        return event_loop.run(
            _serve_process(settings, demo=demo, channel=None), settings.event_loop
        )
    problem = workers_problem(settings)
    if problem is not None:
        print(f"chatbot: {problem}", file=sys.stderr)
        return 1
    return _Supervisor(settings, demo=demo).run()


def workers_problem(settings: Settings) -> str | None:
    """Why `settings.workers` processes cannot share this set-up, or None when they can."""
    if settings.workers == 1:
        return None
    missing = []
    if not settings.database_url.startswith(("postgresql://", "postgres://")):
        missing.append(f"CHATBOT_DATABASE_URL is {mask_url(settings.database_url)}")
    if not settings.redis_enabled:
        missing.append("CHATBOT_REDIS_URL is empty")
    if missing:
        return (
            f"--workers {settings.workers} needs PostgreSQL and Redis, but "
            f"{' and '.join(missing)}: processes cannot share SQLite or in-process chat; "
            "set both, or serve with one worker"
        )
    if settings.port == 0:
        return f"--workers {settings.workers} needs a fixed port: set --port or CHATBOT_PORT"
    return None


async def _tag_worker(request: web.Request, response: web.StreamResponse) -> None:
    # Says which worker answered (WebSocket upgrades included), for operators and tests.
    response.headers[WORKER_HEADER] = str(os.getpid())


async def _stop_when_orphaned(stop: asyncio.Event, supervisor: int) -> None:
    """A worker whose supervisor died (even by SIGKILL) stops instead of serving on alone."""
    while os.getppid() == supervisor:  # noqa: ASYNC110 - no event says a parent died
        await asyncio.sleep(_ORPHAN_CHECK_SECONDS)
    log.warning("the supervisor (pid %d) is gone: stopping this worker", supervisor)
    stop.set()


async def _serve_process(settings: Settings, *, demo: bool, channel: Connection | None) -> int:
    """Run one app on the port until a signal; `channel` tells a supervisor we listen."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # A worker ignores SIGINT: the supervisor turns Ctrl-C into one SIGTERM per worker.
    signals = (signal.SIGTERM,) if channel else (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    watchdog = asyncio.create_task(_stop_when_orphaned(stop, os.getppid())) if channel else None
    app = create_app(settings)
    if demo:
        from chatbot.demo import add_demo_seeding

        add_demo_seeding(app)
    if channel is not None:
        app.on_response_prepare.append(_tag_worker)
    runner = JsonErrorAppRunner(
        app, access_log=None, shutdown_timeout=settings.shutdown_timeout_seconds
    )
    try:
        try:
            await runner.setup()
            site = web.TCPSite(runner, settings.host, settings.port, reuse_port=bool(channel))
            await site.start()
        except StartupError as exc:
            return _start_failed(str(exc), channel)
        except OSError as exc:
            return _start_failed(
                f"cannot listen on {settings.host}:{settings.port} ({exc.strerror or exc}): "
                "stop whatever uses that port, or choose another with --port",
                channel,
            )
        except Exception as exc:
            log.exception("could not start")
            return _start_failed(
                f"could not start ({describe_exception(exc)}); the traceback is logged above",
                channel,
            )
        event_loop.freeze_startup_objects()
        log.info(
            "serving on http://%s:%d (%s)", settings.host, settings.port, event_loop.loop_name()
        )
        if channel is not None:
            channel.send(_READY)
        await stop.wait()
        log.info(
            "shutting down: no new connections; requests and answers in flight get up to %gs",
            settings.shutdown_timeout_seconds,
        )
    finally:
        if watchdog is not None:
            watchdog.cancel()
            # Stopping already: a late SIGTERM from the supervisor has nothing left to do, and
            # must not reach a handler whose loop is closing.
            loop.remove_signal_handler(signal.SIGTERM)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        await runner.cleanup()
    log.info("stopped")
    return 0


def _start_failed(message: str, channel: Connection | None) -> int:
    if channel is not None:
        channel.send(message)  # the supervisor prints one line, not one per worker
    else:
        print(f"chatbot: {message}", file=sys.stderr)
    return 1


def _worker_main(settings: Settings, demo: bool, channel: Connection) -> None:
    """Entry point of a worker process (spawned: nothing inherited but the arguments)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from chatbot.logs import setup_logging

    setup_logging(settings.log_level, settings.log_format, worker=os.getpid())
    code = event_loop.run(_serve_process(settings, demo=demo, channel=channel), settings.event_loop)
    channel.close()
    sys.exit(code)


@dataclass
class _Worker:
    process: BaseProcess
    channel: Connection  # the supervisor's receiving end
    terminated: bool = False


class _Supervisor:
    """Starts the workers, forwards signals, replaces a dead worker, reports start failures."""

    def __init__(self, settings: Settings, *, demo: bool) -> None:
        self._settings = settings
        self._demo = demo
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._stopping = False

    def run(self) -> int:
        handled = (signal.SIGTERM, signal.SIGINT)
        previous = {signum: signal.signal(signum, self._on_signal) for signum in handled}
        try:
            self._workers = [
                self._spawn(demo=self._demo and index == 0)
                for index in range(self._settings.workers)
            ]
            failure = self._await_ready(self._workers)
            if failure is None and not self._stopping:
                log.info(
                    "%d workers serving on http://%s:%d",
                    len(self._workers),
                    self._settings.host,
                    self._settings.port,
                )
                failure = self._supervise()
            return self._stop_all(failure)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if not self._stopping:
            log.info("%s received: stopping the workers", signal.Signals(signum).name)
        self._stopping = True
        self._terminate_all()

    def _terminate_all(self) -> None:
        for worker in self._workers:
            # Once only: the worker's own handler is gone by the time it exits.
            if worker.terminated or worker.process.pid is None:
                continue
            worker.terminated = True
            if worker.process.exitcode is None:
                with suppress(ProcessLookupError):
                    os.kill(worker.process.pid, signal.SIGTERM)

    def _spawn(self, *, demo: bool) -> _Worker:
        receiver, sender = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_worker_main, args=(self._settings, demo, sender), name="chatbot-worker"
        )
        process.start()
        sender.close()  # only the child writes: its exit makes our end read EOF
        return _Worker(process, receiver)

    def _await_ready(self, workers: list[_Worker]) -> str | None:
        """None once every worker listens (or a signal came); else why one could not start."""
        allowed = self._settings.startup_timeout_seconds + _START_GRACE_SECONDS
        deadline = time.monotonic() + allowed
        pending = list(workers)
        while pending and not self._stopping:
            if time.monotonic() > deadline:
                return f"workers did not start within {allowed:g}s: see the log lines above"
            waitables = [w.channel for w in pending] + [w.process.sentinel for w in pending]
            for ready in wait(waitables, timeout=0.5):
                worker = next(w for w in pending if ready in (w.channel, w.process.sentinel))
                if worker not in pending:
                    continue
                message = self._receive(worker)
                if message != _READY:
                    return message
                pending.remove(worker)
        return None

    @staticmethod
    def _receive(worker: _Worker) -> str:
        try:
            if worker.channel.poll():
                message = worker.channel.recv()
                return message if isinstance(message, str) else repr(message)
        except (EOFError, OSError):
            pass
        worker.process.join(5)
        return f"a worker exited during start-up with status {worker.process.exitcode}"

    def _supervise(self) -> str | None:
        """Wait for a signal, replacing any worker that dies meanwhile."""
        while not self._stopping:
            by_sentinel = {w.process.sentinel: w for w in self._workers}
            for sentinel in wait(list(by_sentinel), timeout=0.5):
                if self._stopping or not isinstance(sentinel, int):
                    break
                dead = by_sentinel[sentinel]
                dead.process.join()
                dead.channel.close()
                log.error(
                    "worker %s exited unexpectedly with status %s: starting a replacement",
                    dead.process.pid,
                    dead.process.exitcode,
                )
                replacement = self._spawn(demo=False)
                self._workers[self._workers.index(dead)] = replacement
                failure = self._await_ready([replacement])
                if failure is not None:
                    return f"a replacement worker could not start: {failure}"
        return None

    def _stop_all(self, failure: str | None) -> int:
        self._stopping = True
        self._terminate_all()
        grace = self._settings.shutdown_timeout_seconds + _CLEANUP_GRACE_SECONDS
        deadline = time.monotonic() + grace
        clean = True
        for worker in self._workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.exitcode is None:
                log.error(
                    "worker %s did not stop within %gs: killing it", worker.process.pid, grace
                )
                worker.process.kill()
                worker.process.join(5)
            clean = clean and worker.process.exitcode == 0
            worker.channel.close()
        if failure is not None:
            print(f"chatbot: {failure}", file=sys.stderr)
            return 1
        return 0 if clean else 1
