"""Logins while PDF bombs are uploaded: `python bench/upload_bomb.py [--bombs 6] [--logins 10]`.

Starts `chatbot serve` on a free port with a fresh SQLite database, registers an account,
times logins alone, then again while the bombs (the test suite's `pdf_bomb`, ~32 KB) are being
read, and prints how long each upload took to answer, and with what.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "knowledge")]

from knowledge_support import pdf_bomb  # noqa: E402

PASSWORD = "correct horse battery staple"  # noqa: S105 - a throwaway account


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _logins(session: aiohttp.ClientSession, base: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        body = {"email": "bench@example.com", "password": PASSWORD}
        async with session.post(f"{base}/auth/login/", json=body) as response:
            assert response.status == 200, await response.text()
        times.append(time.perf_counter() - started)
    return times


async def _upload(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], name: str
) -> tuple[float, int, str]:
    form = aiohttp.FormData()
    form.add_field("file", pdf_bomb(), filename=name, content_type="application/pdf")
    started = time.perf_counter()
    async with session.post(url, data=form, headers=headers) as response:
        body = await response.json()
    return time.perf_counter() - started, response.status, body.get("error", {}).get("code", "")


def _report(label: str, times: list[float]) -> None:
    print(
        f"{label}: median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
    )


async def main(bombs: int, logins: int) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **os.environ,
            "CHATBOT_DATABASE_URL": f"sqlite:///{folder}/bench.db",
            "CHATBOT_REDIS_URL": "",
            "CHATBOT_CONFIG": os.devnull,
            "CHATBOT_ACCESS_LOG": "false",
            "CHATBOT_RATE_LIMITS__ENABLED": "false",  # the logins are not an attack
        }
        command = [sys.executable, "-m", "chatbot", "serve", "--port", str(port)]
        server = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)  # noqa: ASYNC220 - started once
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout()) as session:
                while True:
                    try:
                        async with session.get(f"{base}/readyz") as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientError:
                        await asyncio.sleep(0.1)
                body = {"email": "bench@example.com", "password": PASSWORD}
                async with session.post(f"{base}/auth/register/", json=body) as response:
                    headers = {"Authorization": f"Bearer {(await response.json())['access']}"}
                async with session.post(
                    f"{base}/api/chatbots/", json={"name": "Bench"}, headers=headers
                ) as response:
                    url = f"{base}/api/chatbots/{(await response.json())['id']}/knowledge/upload/"
                _report("logins alone", await _logins(session, base, logins))
                uploads = [
                    asyncio.create_task(_upload(session, url, headers, f"bomb{n}.pdf"))
                    for n in range(bombs)
                ]
                await asyncio.sleep(1)  # the uploads are sent and being read
                _report(f"logins during {bombs} bombs", await _logins(session, base, logins))
                for seconds, status, code in await asyncio.gather(*uploads):
                    print(f"upload answered in {seconds:.1f} s: {status} {code}")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bombs", type=int, default=6)
    parser.add_argument("--logins", type=int, default=10)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.bombs, arguments.logins))
