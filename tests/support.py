"""Test helpers for real processes: `chatbot serve` instances and private Redis servers."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext

REPO_ROOT = Path(__file__).resolve().parent.parent

# Debian's Chromium, driven by Playwright; Playwright's own browser downloads are never used.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
BROWSER_TIMEOUT_MS = 15_000
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"


def sqlite_writer_processes(parent: int) -> list[int]:
    """The SQLite writer processes that process `parent` started (Linux: read from /proc)."""
    children = []
    for task in Path(f"/proc/{parent}/task").glob("*/children"):
        with suppress(FileNotFoundError):  # a thread that ended meanwhile
            children.extend(int(pid) for pid in task.read_text().split())
    return [
        pid
        for pid in children
        if b"chatbot.chat.sqlite_writer" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


async def until(condition: Callable[[], bool], timeout: float, failure: str = "") -> None:
    """Wait until `condition()` holds; fail the test if it does not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, failure or f"still not true after {timeout} s"
        await asyncio.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A Redis server of the test's own, which the test may stop and start again."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; CI installs it (see .ci/run)")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"private redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


class ServerProcess:
    """A real `chatbot serve` process on a free port, with its output kept for assertions."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        args: tuple[str, ...] = (),
        port: int | None = None,
        cwd: Path | None = None,
        program: tuple[str, ...] = (sys.executable, "-m", "chatbot"),
    ) -> None:
        self.port = port or free_port()
        self.program = program
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.args = args
        self.cwd = cwd
        self.process: subprocess.Popen[str] | None = None
        self.log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("a") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [*self.program, "serve", "--port", str(self.port), *self.args],
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,  # stop() ends the whole group: workers too
            )

    def output(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""

    async def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise AssertionError(f"server exited early:\n{self.output()}")
                try:
                    async with session.get(self.base_url + "/readyz") as response:
                        if response.status == 200 and self._every_worker_listens():
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"server not ready within {timeout}s:\n{self.output()}")

    def _every_worker_listens(self) -> bool:
        # With --workers, /readyz answers once the first worker listens; the supervisor
        # says when the others do.
        return "--workers" not in self.args or " workers serving on http://" in self.output()

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout: float = 20.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        """Kill the server and every process it started (workers included)."""
        if self.process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


class LocalSite:
    """A small aiohttp site of the test's own on a free port of 127.0.0.1 (fakes, other origins).

    Subclasses add their routes in `routes`.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self._runner: web.AppRunner | None = None

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class FakeModel(LocalSite):
    """An OpenAI-compatible chat completions server answering `words`, `delay` apart.

    A fake at a third-party boundary: the `openai` brain talks to it as to any provider.
    Subclasses answer in `completions`.
    """

    def __init__(self, words: list[str], delay: float) -> None:
        super().__init__()
        self.words = words
        self.delay = delay

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def answer(self) -> str:
        return "".join(self.words)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self.completions)

    async def completions(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 30.0, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m chatbot ARGS` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "chatbot", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )


@asynccontextmanager
async def launch_chromium() -> AsyncIterator[Browser]:
    """Headless Chromium, closed on exit; fails the test clearly when it is not installed."""
    import pytest
    from playwright.async_api import async_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is required for the browser tests and is missing at {CHROMIUM}: "
            "install it with `apt-get install chromium`.",
            pytrace=False,
        )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=BROWSER_TIMEOUT_MS
        )
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def browser_context(browser: Browser, **options: Any) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile (its own cookies and storage) with bounded waits, closed on exit."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, **options)
    context.set_default_timeout(BROWSER_TIMEOUT_MS)
    context.set_default_navigation_timeout(BROWSER_TIMEOUT_MS)
    try:
        yield context
    finally:
        await context.close()


def screenshots_folder() -> Path:
    """Where screenshots go: kept by CI as artifacts, ignored by git."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
