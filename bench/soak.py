"""Soak: two instances on PostgreSQL and Redis under steady chat, through a Redis restart and an
instance restart. Reports RSS and open file descriptors over time, and messages lost (goal: 0).

Visitors (an `echo` chatbot) send a message, wait for its acknowledgement and the bot's answer,
pause, and send again; when their instance goes away they reconnect (to the other one while it
is down) with their visitor token and send the unacknowledged message again with the same
client_id, as the widget does. Operators watch every message. At the end every acknowledged
message must be in the database once, and every stored visitor message must have reached every
operator that was connected for the whole run.

    .venv/bin/python bench/soak.py [--duration 600] [--visitors 200] [--operators 5]

Run by hand (ten minutes by default); it starts its own Redis server on a free port, so that it
can restart it, and its own PostgreSQL database, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import time
import uuid
from collections import defaultdict
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from ws_chat import POSTGRES_ADMIN_URL, Server, chatbot_server, echo_chatbot, free_port

PAUSE_SECONDS = (0.5, 2.0)  # between a visitor's messages
SAMPLE_SECONDS = 10.0


class RedisServer:
    """A Redis server of the soak's own, which it stops and starts again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "redis-server"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.05)
        raise SystemExit("the soak's Redis server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


@dataclass
class Tally:
    """What the visitors and operators saw."""

    acked: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    unacked: int = 0
    reconnects: int = 0
    seen_by_operator: list[set[tuple[str, int]]] = field(default_factory=list)
    # Why each operator socket ended before the deadline (close code, or the exception's name):
    # an operator socket gets no replay of what it missed while it was away.
    operator_ends: list[list[str]] = field(default_factory=list)


def rss_and_fds(server: Server) -> tuple[int, int]:
    pid = server.process.pid
    rss = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


async def visitor(
    session: aiohttp.ClientSession,
    servers: list[Server],
    slug: str,
    number: int,
    tally: Tally,
    deadline: float,
) -> None:
    token: str | None = None
    conversation = ""
    pending: str | None = None  # a client_id sent but not yet acknowledged
    count = 0
    home = number % len(servers)
    while time.monotonic() < deadline:
        for offset in range(len(servers)):
            server = servers[(home + offset) % len(servers)]
            params = {"visitor_token": token} if token else {}
            try:
                ws = await session.ws_connect(
                    f"{server.ws_base}/ws/chat/public/{slug}/", params=params, timeout=5
                )
                break
            except (aiohttp.ClientError, TimeoutError):
                continue
        else:
            await asyncio.sleep(1.0)
            continue
        try:
            async with ws:
                welcome = await ws.receive_json(timeout=10)
                token, conversation = welcome["visitor_token"], welcome["conversation_id"]
                while time.monotonic() < deadline:
                    if pending is None:
                        count += 1
                        pending = f"v{number}-{count}"
                    frame = {"type": "message", "text": pending, "client_id": pending}
                    await ws.send_json(frame)
                    while True:
                        received = await ws.receive_json(timeout=15)
                        message = received.get("message") or {}
                        if message.get("role") == "visitor" and message["client_id"] == pending:
                            tally.acked[conversation].add(pending)
                        if message.get("role") == "bot" and message["text"] == pending:
                            break
                    pending = None
                    await asyncio.sleep(random.uniform(*PAUSE_SECONDS))
        except (aiohttp.ClientError, TimeoutError, TypeError, ValueError, KeyError):
            pass  # the instance went away or the socket broke: reconnect and send again
        if time.monotonic() < deadline:
            tally.reconnects += 1
    if pending is not None:
        tally.unacked += 1


async def operator(
    session: aiohttp.ClientSession,
    servers: list[Server],
    index: int,
    token: str,
    seen: set[tuple[str, int]],
    ends: list[str],
    deadline: float,
) -> None:
    while time.monotonic() < deadline:
        try:
            async with session.ws_connect(
                f"{servers[index].ws_base}/ws/chat/agent/",
                headers={"Authorization": f"Bearer {token}"},
            ) as ws:
                while time.monotonic() < deadline + 5:
                    try:
                        received = await ws.receive(timeout=1)
                    except TimeoutError:
                        continue  # quiet for a second: still connected
                    if received.type != aiohttp.WSMsgType.TEXT:
                        if time.monotonic() < deadline:
                            ends.append(f"close {ws.close_code}")
                        break
                    frame = json.loads(received.data)
                    if frame["type"] == "message" and frame["message"]["role"] == "visitor":
                        seen.add((frame["message"]["conversation_id"], frame["message"]["seq"]))
        except (aiohttp.ClientError, ValueError) as exc:
            ends.append(type(exc).__name__)
        await asyncio.sleep(0.5)


async def stored_visitor_messages(database_url: str) -> list[tuple[str, int, str]]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT conversation_id, seq, client_id FROM messages WHERE role = 'visitor'"
        )
    finally:
        await connection.close()
    return [(row["conversation_id"], row["seq"], row["client_id"]) for row in rows]


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    database = f"chatbot_soak_{uuid.uuid4().hex[:10]}"
    database_url = f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{database}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{database}"')
    redis = RedisServer()
    redis.start()
    env = {
        "CHATBOT_DATABASE_URL": database_url,
        "CHATBOT_REDIS_URL": redis.url,
        "CHATBOT_REDIS_PREFIX": f"soak{uuid.uuid4().hex[:8]}",
        # Long enough for the whole soak: operators keep one token.
        "CHATBOT_AUTH__ACCESS_TOKEN_TTL_SECONDS": str(int(args.duration) + 600),
    }
    servers = [chatbot_server(env), chatbot_server(env)]
    samples: list[dict[str, Any]] = []
    tally = Tally(
        seen_by_operator=[set() for _ in range(args.operators)],
        operator_ends=[[] for _ in range(args.operators)],
    )
    try:
        slug, token = echo_chatbot(servers[0].base)
        started = time.monotonic()
        deadline = started + args.duration
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            operators = [
                asyncio.create_task(
                    operator(
                        session,
                        servers,
                        n % 2,
                        token,
                        tally.seen_by_operator[n],
                        tally.operator_ends[n],
                        deadline,
                    )
                )
                for n in range(args.operators)
            ]
            visitors = [
                asyncio.create_task(visitor(session, servers, slug, n, tally, deadline))
                for n in range(args.visitors)
            ]
            events = {args.duration / 3: "restart Redis", 2 * args.duration / 3: "restart B"}
            while (now := time.monotonic()) < deadline:
                elapsed = now - started
                for at, event in sorted(events.items()):
                    if elapsed >= at:
                        del events[at]
                        print(f"{elapsed:7.1f} s  {event}", flush=True)
                        if event == "restart Redis":
                            redis.stop()
                            await asyncio.sleep(2)
                            redis.start()
                        else:  # clients of B reconnect to A meanwhile, then spread again
                            await asyncio.to_thread(servers[1].stop)
                            servers[1] = await asyncio.to_thread(chatbot_server, env)
                sample = {"seconds": round(elapsed)}
                for name, server in zip("AB", servers, strict=True):
                    sample[f"rss_{name}_mib"], sample[f"fds_{name}"] = rss_and_fds(server)
                    sample[f"rss_{name}_mib"] = round(sample[f"rss_{name}_mib"] / 1024, 1)
                samples.append(sample)
                print(json.dumps(sample), flush=True)
                await asyncio.sleep(min(SAMPLE_SECONDS, max(0.0, deadline - time.monotonic())))
            await asyncio.gather(*visitors)
            await asyncio.gather(*operators)
        stored = await stored_visitor_messages(database_url)
    finally:
        for server in servers:
            server.stop()
        redis.stop()
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()

    stored_ids = defaultdict(list)
    for conversation, _, client_id in stored:
        stored_ids[conversation].append(client_id)
    acked = sum(len(ids) for ids in tally.acked.values())
    lost = sum(
        1
        for conversation, ids in tally.acked.items()
        for id_ in ids
        if id_ not in stored_ids[conversation]
    )
    doubled = sum(len(ids) - len(set(ids)) for ids in stored_ids.values())
    keys = {(conversation, seq) for conversation, seq, _ in stored}
    # Operators on A stay connected throughout (Redis restarts under them: they must resync);
    # those on B reconnect after its restart and are not sent what they missed meanwhile.
    missed_on_a = [len(keys - seen) for seen in tally.seen_by_operator[::2]]
    ends_on_a = tally.operator_ends[::2]
    return {
        "visitors": args.visitors,
        "operators": args.operators,
        "seconds": args.duration,
        "messages_acknowledged": acked,
        "messages_stored": len(stored),
        "acknowledged_but_lost": lost,
        "stored_twice": doubled,
        "never_acknowledged": tally.unacked,
        "reconnects": tally.reconnects,
        "missed_by_each_operator_on_a": missed_on_a,
        "operator_sockets_ended_on_a": ends_on_a,
        "first_sample": samples[0] if samples else None,
        "last_sample": samples[-1] if samples else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--visitors", type=int, default=200)
    parser.add_argument("--operators", type=int, default=5)
    args = parser.parse_args()
    result = asyncio.run(soak(args))
    print(json.dumps(result, indent=2))
    lost = result["acknowledged_but_lost"] + result["stored_twice"]
    # An operator socket that stayed open throughout must have missed nothing.
    pairs = zip(
        result["missed_by_each_operator_on_a"], result["operator_sockets_ended_on_a"], strict=True
    )
    missed = [count for count, ends in pairs if not ends]
    return 0 if lost == 0 and not any(missed) else 1


if __name__ == "__main__":
    raise SystemExit(main())
