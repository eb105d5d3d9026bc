"""Benchmark: the chat WebSockets against a bare aiohttp server speaking the same frames.

Phases, each bounded in time:

  a) 200 visitors in a closed loop with the `echo` brain: round trips per second, p50 and p99.
     A round trip: a visitor sends a message and receives its acknowledgement and the bot's
     echo. Run against bench/bare_ws_server.py and against `chatbot serve` (SQLite, default).
  b) memory per idle visitor socket: the server's RSS growth over 5,000 open sockets, divided.
  c) two `chatbot serve` instances sharing PostgreSQL and Redis: visitors on both, an operator
     on the second one; round trips, and the time a visitor's message takes to reach the
     operator across instances.

The servers and the load generator run as separate processes on 127.0.0.1.

    .venv/bin/python bench/ws_chat.py [--duration 10] [--rounds 3] [--visitors 200] [--idle 5000]
        [--phases a,b,c] [--load-processes 1] [--json results.json] [--bare-loop asyncio]

Targets (one process): at least 0.5 of the bare server's round trips/s with storage on,
p99 under 100 ms at 200 visitors, at most 24 KiB per idle socket. Exit status 1 if missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SECRET_KEY = "benchmark-secret-key-that-is-long-enough-0123456789"  # noqa: S105
POSTGRES_ADMIN_URL = os.environ.get(
    "CHATBOT_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("CHATBOT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
RATIO_GOAL, P99_GOAL_MS, IDLE_GOAL_KIB = 0.5, 100.0, 24.0
WARMUP_SECONDS = 2.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited early with status {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (a local URL)
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server not ready within {timeout}s: {url}")


def _process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (Linux)."""
    tree = [pid]
    for parent in tree:
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            with suppress(FileNotFoundError):  # a thread or process that ended meanwhile
                tree.extend(int(child) for child in task.read_text().split())
    return tree


def _process_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:  # it exited meanwhile
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """A server subprocess on a free port, with more file descriptors than the default."""

    def __init__(self, command: list[str], env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port)],
            env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
            cwd=REPO,
            preexec_fn=raise_fd_limit,  # no threads yet in this process
            stdout=subprocess.DEVNULL,
            stderr=sys.stderr,
        )
        wait_ready(f"{self.base}/healthz", self.process)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """User and system CPU time the server has used so far: all its threads, and its child
        processes (the SQLite writer) while they run."""
        return sum(_process_cpu_seconds(pid) for pid in _process_tree(self.process.pid))

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def chatbot_server(env: dict[str, str]) -> Server:
    base_env = {
        "CHATBOT_SECRET_KEY": SECRET_KEY,
        "CHATBOT_ACCESS_LOG": "false",
        "CHATBOT_LOG_LEVEL": "warning",
        # The benchmark measures the chat, not the abuse limits: 200 visitors share one address.
        "CHATBOT_RATE_LIMITS__ENABLED": "false",
        "CHATBOT_BRAINS__SEMANTIC": "false",
    }
    return Server([sys.executable, "-m", "chatbot", "serve"], {**base_env, **env})


def post_json(url: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (a local URL)
        data: dict[str, Any] = json.loads(response.read())
        return data


def echo_chatbot(base: str) -> tuple[str, str]:
    """Register an account and create an echo chatbot; returns (slug, access token)."""
    email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
    session = post_json(f"{base}/auth/register/", {"email": email, "password": "benchmark-pw"})
    token = session["access"]
    chatbot = post_json(
        f"{base}/api/chatbots/",
        {"name": "Bench", "greeting": "", "brain": {"type": "echo"}},
        token,
    )
    return chatbot["slug"], token


# ---- load generator (runs in child processes) --------------------------------------------------


async def _visitor_loop(
    session: Any,
    url: str,
    name: str,
    warm_until: float,
    deadline: float,
    latencies: list[float],
    total: list[int],
) -> None:
    from aiohttp import WSMsgType

    async with session.ws_connect(url, max_msg_size=0) as ws:
        await ws.receive()  # welcome
        count = 0
        while time.monotonic() < deadline:
            count += 1
            text = f"{time.time():.6f} {name} {count}"
            started = time.perf_counter()
            await ws.send_str(
                json.dumps({"type": "message", "text": text, "client_id": f"{name}-{count}"})
            )
            acked = answered = False
            while not (acked and answered):
                received = await ws.receive()
                if received.type is not WSMsgType.TEXT:
                    return
                frame = json.loads(received.data)
                if frame["type"] == "message":
                    role = frame["message"]["role"]
                    acked = acked or role == "visitor"
                    answered = answered or role == "bot"
                elif frame["type"] == "error":
                    raise RuntimeError(f"server error: {frame}")
            total[0] += 1
            if time.monotonic() >= warm_until:
                latencies.append(time.perf_counter() - started)


async def _closed_loop(
    urls: list[str], names: list[str], duration: float
) -> tuple[list[float], int]:
    import aiohttp

    latencies: list[float] = []
    total = [0]
    warm_until = time.monotonic() + WARMUP_SECONDS
    deadline = warm_until + duration
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(
            *(
                _visitor_loop(
                    session, urls[i % len(urls)], name, warm_until, deadline, latencies, total
                )
                for i, name in enumerate(names)
            )
        )
    return latencies, total[0]


def closed_loop_worker(urls: list[str], names: list[str], duration: float, out: Connection) -> None:
    raise_fd_limit()
    out.send(asyncio.run(_closed_loop(urls, names, duration)))


async def _idle(url: str, count: int, control: Connection) -> None:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        sockets = []
        for start in range(0, count, 200):
            batch = await asyncio.gather(
                *(session.ws_connect(url, heartbeat=None) for _ in range(min(200, count - start)))
            )
            await asyncio.gather(*(ws.receive() for ws in batch))  # each welcome
            sockets.extend(batch)
        control.send("ready")
        await asyncio.get_running_loop().run_in_executor(None, control.recv)
        await asyncio.gather(*(ws.close() for ws in sockets))


def idle_worker(url: str, count: int, control: Connection) -> None:
    raise_fd_limit()
    asyncio.run(_idle(url, count, control))


# ---- phases ------------------------------------------------------------------------------------


@dataclass
class LoopResult:
    label: str
    round_trips_per_second: float
    p50_ms: float
    p99_ms: float
    round_trips: int
    # Server CPU per round trip over the whole run (connects and warm-up included): unlike
    # round trips/s, it does not depend on what else the machine is busy with.
    server_cpu_ms_per_round_trip: float | None = None


def run_closed_loop(
    label: str,
    urls: list[str],
    visitors: int,
    duration: float,
    processes: int,
    servers: Sequence[Server] = (),
) -> LoopResult:
    context = multiprocessing.get_context("spawn")
    names = [f"v{index}" for index in range(visitors)]
    workers, pipes = [], []
    for index in range(processes):
        receive, send = context.Pipe(duplex=False)
        share = names[index::processes]
        worker = context.Process(target=closed_loop_worker, args=(urls, share, duration, send))
        worker.start()
        workers.append(worker)
        pipes.append(receive)
    cpu_before = sum(server.cpu_seconds() for server in servers)
    counts = [pipe.recv() for pipe in pipes]
    cpu = sum(server.cpu_seconds() for server in servers) - cpu_before
    for worker in workers:
        worker.join()
    latencies = sorted(value for values, _ in counts for value in values)
    total = sum(count for _, count in counts)
    return LoopResult(
        label=label,
        round_trips_per_second=len(latencies) / duration,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[int(len(latencies) * 0.99) - 1] * 1000,
        round_trips=len(latencies),
        server_cpu_ms_per_round_trip=cpu * 1000 / total if servers and total else None,
    )


def idle_memory(label: str, server: Server, url: str, count: int, processes: int) -> float:
    """KiB of server RSS per idle visitor socket."""
    context = multiprocessing.get_context("spawn")
    time.sleep(1.0)
    before = server.rss_kib()
    controls, workers = [], []
    for index in range(processes):
        mine, theirs = context.Pipe()
        share = count // processes + (1 if index < count % processes else 0)
        worker = context.Process(target=idle_worker, args=(url, share, theirs))
        worker.start()
        workers.append(worker)
        controls.append(mine)
    for control in controls:
        if not control.poll(300):
            raise SystemExit(f"{label}: the idle sockets did not open within 300 s")
        control.recv()
    time.sleep(3.0)
    after = server.rss_kib()
    for control in controls:
        control.send("close")
    for worker in workers:
        worker.join()
    return (after - before) / count


async def _operator_latency(url: str, token: str, stop: Callable[[], bool]) -> list[float]:
    """Seconds from a visitor's send (stamped in the text) to the operator, on another instance."""
    import aiohttp

    delays: list[float] = []
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, headers={"Authorization": f"Bearer {token}"}, max_msg_size=0) as ws,
    ):
        await ws.receive()
        while not stop():
            try:
                received = await ws.receive(timeout=0.5)
            except TimeoutError:
                continue
            frame = json.loads(received.data)
            if frame["type"] == "message" and frame["message"]["role"] == "visitor":
                delays.append(time.time() - float(frame["message"]["text"].split()[0]))
    return delays


def cluster(visitors: int, duration: float, processes: int) -> dict[str, Any]:
    import asyncpg

    database = f"chatbot_bench_{uuid.uuid4().hex[:10]}"
    server_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{database}"'))
    env = {
        "CHATBOT_DATABASE_URL": f"{server_url}/{database}",
        "CHATBOT_REDIS_URL": REDIS_URL,
        "CHATBOT_REDIS_PREFIX": f"bench{uuid.uuid4().hex[:8]}",
    }
    servers = [chatbot_server(env)]
    servers.append(chatbot_server(env))
    try:
        slug, token = echo_chatbot(servers[0].base)
        urls = [f"{server.ws_base}/ws/chat/public/{slug}/" for server in servers]
        context = multiprocessing.get_context("spawn")
        finished = context.Event()

        async def measure() -> tuple[LoopResult, list[float]]:
            loop = asyncio.get_running_loop()
            operator = asyncio.create_task(
                _operator_latency(f"{servers[1].ws_base}/ws/chat/agent/", token, finished.is_set)
            )
            result = await loop.run_in_executor(
                None, run_closed_loop, "two instances", urls, visitors, duration, processes, servers
            )
            await asyncio.sleep(1.0)
            finished.set()
            return result, await operator

        result, delays = asyncio.run(measure())
        delays.sort()
        return {
            **asdict(result),
            "operator_messages": len(delays),
            "operator_p50_ms": statistics.median(delays) * 1000 if delays else None,
            "operator_p99_ms": delays[int(len(delays) * 0.99) - 1] * 1000 if delays else None,
        }
    finally:
        for server in servers:
            server.stop()
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def closed_loop_rounds(
    args: argparse.Namespace,
    results: dict[str, Any],
    bare: tuple[Server, str],
    chat: tuple[Server, str],
) -> tuple[float, float]:
    """Phase a: rounds alternate between the servers, so that other load weighs on both alike.

    Returns the ratio of the median round trips/s and the chatbot's median p99.
    """
    runs: dict[str, list[LoopResult]] = {"bare": [], "chatbot (SQLite)": []}
    for _ in range(args.rounds):
        for label, (server, url) in (("bare", bare), ("chatbot (SQLite)", chat)):
            load = run_closed_loop(
                label, [url], args.visitors, args.duration, args.load_processes, [server]
            )
            runs[label].append(load)
            print(
                f"a) {label:18} {load.round_trips_per_second:8.0f} round trips/s  "
                f"p50 {load.p50_ms:6.1f} ms  p99 {load.p99_ms:6.1f} ms  server CPU "
                f"{load.server_cpu_ms_per_round_trip or 0:.3f} ms/round trip"
            )
    medians = {
        label: {
            "round_trips_per_second": statistics.median(r.round_trips_per_second for r in loads),
            "p50_ms": statistics.median(r.p50_ms for r in loads),
            "p99_ms": statistics.median(r.p99_ms for r in loads),
            "server_cpu_ms_per_round_trip": statistics.median(
                r.server_cpu_ms_per_round_trip or 0 for r in loads
            ),
        }
        for label, loads in runs.items()
    }
    bare_median, chat_median = medians["bare"], medians["chatbot (SQLite)"]
    ratio = chat_median["round_trips_per_second"] / bare_median["round_trips_per_second"]
    cpu_ratio = (
        bare_median["server_cpu_ms_per_round_trip"] / chat_median["server_cpu_ms_per_round_trip"]
    )
    results["closed_loop"] = {label: [asdict(r) for r in loads] for label, loads in runs.items()}
    results["closed_loop_medians"] = medians
    results["ratio"] = ratio
    results["cpu_ratio"] = cpu_ratio
    print(
        f"a) medians: bare {bare_median['round_trips_per_second']:.0f}, chatbot "
        f"{chat_median['round_trips_per_second']:.0f} round trips/s; ratio {ratio:.2f} "
        f"(goal >= {RATIO_GOAL}); chatbot p50 {chat_median['p50_ms']:.1f} ms, p99 "
        f"{chat_median['p99_ms']:.1f} ms (goal < {P99_GOAL_MS:.0f}); server CPU per round trip "
        f"bare/chatbot {cpu_ratio:.2f}"
    )
    return ratio, chat_median["p99_ms"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs in phase a")
    parser.add_argument("--visitors", type=int, default=200)
    parser.add_argument("--idle", type=int, default=5000, help="idle sockets in phase b")
    parser.add_argument("--phases", default="a,b,c")
    parser.add_argument("--load-processes", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--bare-loop",
        choices=["asyncio", "uvloop"],
        default="asyncio",
        help="the bare server's event loop (the goal compares with plain aiohttp: asyncio)",
    )
    args = parser.parse_args()
    raise_fd_limit()
    phases = set(args.phases.split(","))
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "args": {**vars(args), "json": str(args.json) if args.json else None},
        "load_average": os.getloadavg(),
    }
    failures = []
    with tempfile.TemporaryDirectory(prefix="chatbot-bench-") as folder:
        bare = Server(
            [sys.executable, str(REPO / "bench" / "bare_ws_server.py"), "--loop", args.bare_loop]
        )
        chat = chatbot_server({"CHATBOT_DATABASE_URL": f"sqlite:///{folder}/chatbot.db"})
        try:
            slug, _ = echo_chatbot(chat.base)
            bare_url = f"{bare.ws_base}/ws/chat/public/bench/"
            chat_url = f"{chat.ws_base}/ws/chat/public/{slug}/"
            if "a" in phases:
                ratio, p99 = closed_loop_rounds(args, results, (bare, bare_url), (chat, chat_url))
                if ratio < RATIO_GOAL:
                    failures.append("round-trip ratio")
                if p99 >= P99_GOAL_MS:
                    failures.append("p99 latency")
            if "b" in phases:
                bare_idle = idle_memory("bare", bare, bare_url, args.idle, 2)
                chat_idle = idle_memory("chatbot", chat, chat_url, args.idle, 2)
                results["idle_kib_per_socket"] = {"bare": bare_idle, "chatbot": chat_idle}
                print(
                    f"b) idle socket: bare {bare_idle:.1f} KiB, chatbot {chat_idle:.1f} KiB "
                    f"(goal <= {IDLE_GOAL_KIB} KiB)"
                )
                if chat_idle > IDLE_GOAL_KIB:
                    failures.append("idle memory")
        finally:
            bare.stop()
            chat.stop()
    if "c" in phases:
        two = cluster(args.visitors, args.duration, args.load_processes)
        results["two_instances"] = two
        print(
            f"c) two instances: {two['round_trips_per_second']:.0f} round trips/s, p50 "
            f"{two['p50_ms']:.1f} ms, p99 {two['p99_ms']:.1f} ms; visitor -> operator across "
            f"instances p50 {two['operator_p50_ms']:.1f} ms, p99 {two['operator_p99_ms']:.1f} ms"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if failures:
        print("missed: " + ", ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
