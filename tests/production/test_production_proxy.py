"""`deploy/haproxy.cfg`'s block on `/metrics`, read as a config and run in front of the app."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from conftest import ClientFactory
from support import REPO_ROOT, free_port

HAPROXY = REPO_ROOT / "deploy" / "haproxy.cfg"
# Every spelling the app routes to `GET /metrics`, and a few that a raw-path rule would miss.
METRICS_SPELLINGS = (
    "/metrics",
    "/metrics/",
    "/%6detrics",
    "/%6D%65trics/",
    "//metrics",
    "/./metrics",
)


def _deny_rules() -> list[str]:
    return [
        line.split("#", 1)[0].strip()
        for line in HAPROXY.read_text().splitlines()
        if line.strip().startswith("http-request deny")
    ]


def test_the_metrics_rule_matches_the_url_decoded_path() -> None:
    [rule] = [line for line in _deny_rules() if "metrics" in line]
    assert "path,url_dec" in rule, rule
    pattern = re.search(r"-m reg (\S+) \}", rule)
    assert pattern is not None, rule
    for path in ("/metrics", "/metrics/", "//metrics", "/./metrics", "/metrics//"):
        assert re.search(pattern.group(1), path), path
    for path in ("/metricsx", "/api/metrics", "/ws/chat/public/metrics/", "/healthz"):
        assert not re.search(pattern.group(1), path), path


def _haproxy() -> str:
    binary = shutil.which("haproxy")
    if binary is None:
        pytest.fail("haproxy is required for this test: `apt-get install haproxy`", pytrace=False)
    return binary


def _local_config(listen: int, app: int) -> str:
    """The deployed config, listening on loopback, with the test's app as its only server."""
    lines = []
    for line in HAPROXY.read_text().splitlines():
        words = line.split()
        if words[:1] == ["maxconn"]:
            line = "    maxconn 256"  # 20,000 needs more descriptors than a test may open
        elif words[:1] == ["bind"]:
            line = f"    bind 127.0.0.1:{listen}"
        elif words[:1] == ["server"] or words[:2] in (
            ["option", "httpchk"],
            ["http-check", "expect"],
        ):
            continue
        lines.append(line)
    lines.append(f"    server app 127.0.0.1:{app}")
    return "\n".join(lines) + "\n"


@contextmanager
def _running_haproxy(config: Path) -> Iterator[subprocess.Popen[bytes]]:
    binary = _haproxy()
    check = subprocess.run(
        [binary, "-c", "-q", "-f", str(config)], capture_output=True, check=False
    )
    assert check.returncode == 0, check.stderr.decode()
    with config.with_suffix(".log").open("wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=log, stderr=log)
    try:
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)


async def test_haproxy_refuses_every_spelling_of_metrics(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    app = await make_client()  # development mode: the app itself serves /metrics to anyone
    assert app.server.port is not None
    listen = free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(_local_config(listen, app.server.port))
    base = f"http://127.0.0.1:{listen}"
    with _running_haproxy(config):
        async with aiohttp.ClientSession() as session:

            async def status(path: str) -> int:
                async with session.get(URL(base + path, encoded=True)) as response:
                    return response.status

            async def proxy_up() -> None:
                while True:
                    with suppress(aiohttp.ClientError):
                        if await status("/healthz") == 200:
                            return
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(proxy_up(), timeout=15)
            direct = await app.get(URL("/%6detrics", encoded=True))
            assert direct.status == 200  # the app decodes it: the proxy must too
            for path in METRICS_SPELLINGS:
                assert await status(path) == 404, path
            assert await status("/healthz/") == 200
