"""Benchmark: chat messages/s with a webhook on `message.created` against without one.

One `chatbot serve` (SQLite by default, or a fresh PostgreSQL database with `--postgres`) has two
accounts, each with an echo chatbot; the first account's workspace has a webhook on
`message.created` pointing at a local receiver (a separate process answering 200 at once). A
closed loop of visitors (the `ws_chat` load generator) talks to one chatbot, then the other,
alternating, so that other load on the machine weighs on both alike. Each round trip stores two
messages (the visitor's and the bot's echo), so messages/s is twice the round trips/s.

After each run with the webhook, the script waits until the webhook has no pending delivery
left (the dispatcher has drained the outbox) before the next run starts, and reports how long
that took and the server CPU it used: deliveries left for later are not hidden.

    .venv/bin/python bench/webhooks.py [--duration 10] [--rounds 3] [--visitors 100]
        [--load-processes 1] [--postgres] [--json results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from ws_chat import (
    POSTGRES_ADMIN_URL,
    LoopResult,
    Server,
    chatbot_server,
    echo_chatbot,
    post_json,
    run_closed_loop,
)

DRAIN_TIMEOUT_SECONDS = 300.0


# ---- the receiver (its own process) ------------------------------------------------------------


def receiver_main(port: int) -> None:
    """Answer 200 to every POST /hook at once; GET /count tells how many came, and how many
    distinct webhook-ids."""
    from aiohttp import web

    seen: set[str] = set()
    total = [0]

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        total[0] += 1
        seen.add(request.headers.get("webhook-id", ""))
        return web.Response(text="ok")

    async def count(_: web.Request) -> web.Response:
        return web.json_response({"total": total[0], "distinct": len(seen)})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/count", count)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def received(receiver: Server) -> dict[str, int]:
    with urllib.request.urlopen(f"{receiver.base}/count", timeout=10) as response:  # noqa: S310
        counts: dict[str, int] = json.loads(response.read())
        return counts


# ---- the benchmark -----------------------------------------------------------------------------


def _get(url: str, token: str) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (a local URL)
        body: dict[str, Any] = json.loads(response.read())
        return body


def wait_drained(deliveries_url: str, token: str) -> float:
    """Seconds until the webhook has no pending delivery left (the outbox is drained)."""
    started = time.monotonic()
    while _get(f"{deliveries_url}?status=pending&limit=1", token)["items"]:
        if time.monotonic() - started > DRAIN_TIMEOUT_SECONDS:
            raise SystemExit(f"the outbox did not drain within {DRAIN_TIMEOUT_SECONDS:.0f} s")
        time.sleep(0.1)
    return time.monotonic() - started


def _print(label: str, load: LoopResult, extra: str = "") -> None:
    print(
        f"{label:16} {2 * load.round_trips_per_second:8.0f} messages/s  "
        f"({load.round_trips_per_second:.0f} round trips/s)  p50 {load.p50_ms:6.1f} ms  "
        f"p99 {load.p99_ms:6.1f} ms  server CPU {load.server_cpu_ms_per_round_trip or 0:.3f} "
        f"ms/round trip{extra}",
        flush=True,
    )


async def _create_database() -> str:
    import asyncpg

    database = f"bench_webhooks_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    return database


async def _drop_database(database: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await admin.close()


def run(args: argparse.Namespace, database_url: str) -> dict[str, Any]:
    receiver = Server([sys.executable, __file__, "--receiver"])
    chat = chatbot_server(
        {
            "CHATBOT_DATABASE_URL": database_url,
            "CHATBOT_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true",  # the receiver is local
        }
    )
    try:
        hooked_slug, token = echo_chatbot(chat.base)
        plain_slug, _ = echo_chatbot(chat.base)
        items = _get(f"{chat.base}/api/workspaces/", token)["items"]
        workspace_id = next(item["id"] for item in items if item["role"] == "owner")
        hooks = f"{chat.base}/api/workspaces/{workspace_id}/webhooks/"
        webhook = post_json(
            hooks, {"url": f"{receiver.base}/hook", "events": ["message.created"]}, token
        )
        deliveries_url = f"{hooks}{webhook['id']}/deliveries/"
        urls = {
            "with webhook": f"{chat.ws_base}/ws/chat/public/{hooked_slug}/",
            "without": f"{chat.ws_base}/ws/chat/public/{plain_slug}/",
        }
        runs: dict[str, list[LoopResult]] = {label: [] for label in urls}
        drains: list[float] = []
        drain_cpus: list[float] = []  # server CPU of the drain, per round trip of its run
        for _ in range(args.rounds):
            for label, url in urls.items():
                load = run_closed_loop(
                    label, [url], args.visitors, args.duration, args.load_processes, [chat]
                )
                runs[label].append(load)
                extra = ""
                if label == "with webhook":
                    cpu_before = chat.cpu_seconds()
                    drain = wait_drained(deliveries_url, token)
                    drain_cpu = chat.cpu_seconds() - cpu_before
                    drains.append(drain)
                    drain_cpus.append(drain_cpu * 1000 / max(load.round_trips, 1))
                    events = received(receiver)["distinct"]
                    extra = (
                        f"  outbox drained {drain:.1f} s after the run, using "
                        f"{drain_cpus[-1]:.3f} ms more server CPU per round trip "
                        f"({events} events so far)"
                    )
                _print(label, load, extra)
        counts = received(receiver)
    finally:
        chat.stop()
        receiver.stop()
    medians = {
        label: {
            "messages_per_second": 2 * statistics.median(r.round_trips_per_second for r in loads),
            "p50_ms": statistics.median(r.p50_ms for r in loads),
            "p99_ms": statistics.median(r.p99_ms for r in loads),
            "server_cpu_ms_per_round_trip": statistics.median(
                r.server_cpu_ms_per_round_trip or 0 for r in loads
            ),
        }
        for label, loads in runs.items()
    }
    ratio = (
        medians["with webhook"]["messages_per_second"] / medians["without"]["messages_per_second"]
    )
    print(
        f"medians: with webhook {medians['with webhook']['messages_per_second']:.0f}, without "
        f"{medians['without']['messages_per_second']:.0f} messages/s (ratio {ratio:.2f}); p99 "
        f"{medians['with webhook']['p99_ms']:.1f} vs {medians['without']['p99_ms']:.1f} ms; "
        f"drain after a run median {statistics.median(drains):.1f} s (server CPU "
        f"{statistics.median(drain_cpus):.3f} ms per round trip); the receiver got "
        f"{counts['total']} deliveries of {counts['distinct']} events"
    )
    return {
        "runs": {label: [vars(r) for r in loads] for label, loads in runs.items()},
        "medians": medians,
        "ratio": ratio,
        "drain_seconds": drains,
        "drain_cpu_ms_per_round_trip": drain_cpus,
        "received": counts,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating pairs of runs")
    parser.add_argument("--visitors", type=int, default=100)
    parser.add_argument("--load-processes", type=int, default=1)
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        receiver_main(args.port)
        return 0
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "args": {**vars(args), "json": str(args.json) if args.json else None},
        "load_average_before": os.getloadavg(),
    }
    if args.postgres:
        database = asyncio.run(_create_database())
        try:
            results.update(run(args, f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{database}"))
        finally:
            asyncio.run(_drop_database(database))
    else:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="chatbot-bench-") as folder:
            results.update(run(args, f"sqlite:///{folder}/chatbot.db"))
    results["load_average_after"] = os.getloadavg()
    print(f"load average before {results['load_average_before']}, after {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
