"""Uploaded files parsed in a few worker processes, each parse held to a CPU-time budget.

A small hostile PDF can cost minutes of CPU. Parsed in threads, it held the GIL and the
default executor, and every login waited behind it. Here each worker process runs one parse at
a time; the kernel ends a worker that spends its budget (RLIMIT_CPU), and only that worker is
replaced, so that other uploads, waiting or to come, are not affected.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import resource
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import suppress
from typing import Any, TypeVar

from aiohttp import web

from chatbot import keys

ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")


class ParseTooSlow(Exception):
    """A parse spent its CPU-time budget (or its worker died): the file is refused."""


def _without_core_files() -> None:
    # A worker ended by SIGXCPU would otherwise leave a core dump behind.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _within_cpu_budget(
    seconds: int, function: Callable[[ArgT], ResultT], argument: ArgT
) -> ResultT:
    """`function(argument)`, the worker ended by SIGXCPU after `seconds` more of CPU time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    spent = math.ceil(usage.ru_utime + usage.ru_stime)
    # The soft limit counts the process's whole life: it is moved before each parse. The hard
    # limit is left alone, since an unprivileged process could never raise it again.
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (spent + seconds, hard))
    return function(argument)


class ParsePool:
    """`workers` single-process executors; a parse waits for an idle one and has it alone."""

    def __init__(self, workers: int, cpu_seconds: int) -> None:
        self.cpu_seconds = cpu_seconds
        self._closed = False
        self._busy: set[ProcessPoolExecutor] = set()
        self._loop = asyncio.get_running_loop()
        self._idle: asyncio.Queue[ProcessPoolExecutor] = asyncio.Queue(maxsize=workers)
        for _ in range(workers):
            self._idle.put_nowait(self._new_worker())

    @staticmethod
    def _new_worker() -> ProcessPoolExecutor:
        # Spawned, not forked: forking a process that runs an event loop and threads is unsafe.
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_without_core_files,
        )

    async def run(self, function: Callable[[ArgT], ResultT], argument: ArgT) -> ResultT:
        """`function(argument)` in an idle worker; ParseTooSlow when the budget runs out."""
        worker = await self._idle.get()
        self._busy.add(worker)
        future = worker.submit(_within_cpu_budget, self.cpu_seconds, function, argument)
        # The worker is idle again only when its parse is over, even if this request is gone.
        future.add_done_callback(lambda done: self._on_done(worker, done))
        try:
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            raise ParseTooSlow(
                f"reading the file took more than {self.cpu_seconds} s of processing"
            ) from None

    def _on_done(self, worker: ProcessPoolExecutor, done: Future[Any]) -> None:
        # Called in the executor's thread.
        with suppress(RuntimeError):  # the loop is closed: the app is gone, nothing to release
            self._loop.call_soon_threadsafe(self._release, worker, done)

    def _release(self, worker: ProcessPoolExecutor, done: Future[Any]) -> None:
        self._busy.discard(worker)
        broken = not done.cancelled() and isinstance(done.exception(), BrokenProcessPool)
        if broken:
            worker.shutdown(wait=False)
        if not self._closed:
            self._idle.put_nowait(self._new_worker() if broken else worker)

    def close(self) -> None:
        """Stop every worker, ending the parses in progress: the app is closing."""
        self._closed = True
        while not self._idle.empty():
            self._idle.get_nowait().shutdown(wait=False, cancel_futures=True)
        for worker in self._busy:
            # Otherwise the process would wait at exit for the parse, up to its CPU budget.
            # (Python 3.14 has ProcessPoolExecutor.terminate_workers for this.)
            for process in list((worker._processes or {}).values()):
                process.kill()
            worker.shutdown(wait=False, cancel_futures=True)


PARSE_POOL = web.AppKey("parse_pool", ParsePool)


async def parse_pool_context(app: web.Application) -> AsyncIterator[None]:
    """The app's parse pool, from the upload settings; closed with the app."""
    settings = app[keys.SETTINGS]
    pool = ParsePool(settings.upload_parse_workers, settings.upload_parse_cpu_seconds)
    app[PARSE_POOL] = pool
    yield
    pool.close()
