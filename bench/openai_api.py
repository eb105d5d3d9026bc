"""Benchmark: the OpenAI-compatible API answering with a knowledge chatbot.

Starts `chatbot serve` (SQLite, in-process backends, rate limits and access log off) with a
knowledge chatbot of a few entries, then measures, with an aiohttp client in this process:

- first-token latency: sequential streamed completions, from sending the request to the
  first chunk with text (p50, p95, max);
- completions/s: `--concurrency` clients sending non-streamed completions for `--duration`
  seconds (each completion stores its question and answer as an `api` conversation).

    .venv/bin/python bench/openai_api.py [--requests 200] [--duration 10] [--concurrency 16]
        [--semantic on|off]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

QUESTIONS = [
    ("When are you open?", "Every day from nine to five, weekends included."),
    ("How much does it cost?", "The basic plan costs ten euros a month."),
    ("Where are you?", "Our office is at 12 Harbour Street, next to the station."),
    ("How do I reset my password?", "Use the 'Forgot password' link on the login page."),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if process.poll() is not None:
                raise SystemExit("the server exited during start-up")
            try:
                async with http.get(base + "/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the server did not become ready")


async def setup(base: str) -> tuple[dict[str, str], str]:
    async with aiohttp.ClientSession() as http:
        body = {"email": "bench@example.com", "password": "correct horse battery"}
        async with http.post(base + "/auth/register/", json=body) as response:
            headers = {"Authorization": f"Bearer {(await response.json())['access']}"}
        async with http.post(
            base + "/api/chatbots/", json={"name": "Bench"}, headers=headers
        ) as response:
            chatbot = await response.json()
        for question, answer in QUESTIONS:
            entry = {"question": question, "answer": answer}
            url = f"{base}/api/chatbots/{chatbot['id']}/knowledge/"
            async with http.post(url, json=entry, headers=headers) as response:
                assert response.status == 201, await response.text()
    return headers, chatbot["slug"]


def body(slug: str, number: int, stream: bool) -> dict[str, Any]:
    question = QUESTIONS[number % len(QUESTIONS)][0]
    return {"model": slug, "messages": [{"role": "user", "content": question}], "stream": stream}


async def first_tokens(base: str, headers: dict[str, str], slug: str, count: int) -> list[float]:
    """Seconds from the request to the first chunk with text, for `count` streamed calls."""
    latencies = []
    async with aiohttp.ClientSession(headers=headers) as http:
        for number in range(count):
            started = time.perf_counter()
            async with http.post(
                base + "/v1/chat/completions", json=body(slug, number, True)
            ) as response:
                assert response.status == 200, await response.text()
                first = None
                async for line in response.content:
                    text = b'"content":"' in line and b'"content":""' not in line
                    if first is None and line.startswith(b"data: {") and text:
                        first = time.perf_counter() - started
                assert first is not None, "no text arrived"
                latencies.append(first)
    return latencies


async def throughput(
    base: str, headers: dict[str, str], slug: str, duration: float, concurrency: int
) -> tuple[int, float]:
    """Completions answered by `concurrency` clients in `duration` seconds."""
    done = 0
    deadline = time.perf_counter() + duration

    async def client(offset: int) -> None:
        nonlocal done
        number = offset
        async with aiohttp.ClientSession(headers=headers) as http:
            while time.perf_counter() < deadline:
                async with http.post(
                    base + "/v1/chat/completions", json=body(slug, number, False)
                ) as response:
                    answer = await response.json()
                    assert response.status == 200, answer
                done += 1
                number += concurrency

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(concurrency)))
    return done, time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--semantic", choices=("on", "off"), default="on")
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "none.yaml").write_text("{}\n")
        env = {
            **os.environ,
            "CHATBOT_CONFIG": str(Path(folder) / "none.yaml"),
            "CHATBOT_DATABASE_URL": f"sqlite:///{folder}/bench.db",
            "CHATBOT_REDIS_URL": "",
            "CHATBOT_ACCESS_LOG": "false",
            "CHATBOT_LOG_LEVEL": "warning",
            "CHATBOT_RATE_LIMITS__ENABLED": "false",
            "CHATBOT_BRAINS__SEMANTIC": "true" if args.semantic == "on" else "false",
        }
        command = [sys.executable, "-m", "chatbot", "serve", "--port", str(port)]
        process = subprocess.Popen(command, env=env, cwd=folder)  # noqa: ASYNC220 (at start)
        try:
            await wait_ready(base, process)
            headers, slug = await setup(base)
            await first_tokens(base, headers, slug, 10)  # warm-up: index built, model loaded
            latencies = await first_tokens(base, headers, slug, args.requests)
            done, elapsed = await throughput(base, headers, slug, args.duration, args.concurrency)
        finally:
            process.terminate()
            process.wait(timeout=30)
    ms = [value * 1000 for value in latencies]
    print(
        json.dumps(
            {
                "semantic": args.semantic,
                "first_token_ms": {
                    "p50": round(statistics.median(ms), 2),
                    "p95": round(percentile(ms, 0.95), 2),
                    "max": round(max(ms), 2),
                    "requests": len(ms),
                },
                "completions_per_second": round(done / elapsed, 1),
                "completions": done,
                "concurrency": args.concurrency,
                "seconds": round(elapsed, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
