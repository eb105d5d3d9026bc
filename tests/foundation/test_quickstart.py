"""The README's run command works on a fresh clone with a fresh virtualenv."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
from pathlib import Path

import aiohttp
import pytest

from support import REPO_ROOT, free_port

pytestmark = pytest.mark.slow

SETUP_TIMEOUT_SECONDS = 600


def _readme_command(name: str) -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    match = re.search(rf"^(make {name})\b", readme, re.MULTILINE)
    assert match, f"README.md no longer shows `make {name}`"
    return match.group(1)


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert _readme_command("test") in ci


async def test_the_readme_run_command_serves_health_and_readiness_on_a_fresh_clone(
    tmp_path: Path,
) -> None:
    command = _readme_command("demo")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(clone)], check=True)
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CHATBOT_") and key not in {"VIRTUAL_ENV", "PYTHONPATH"}
    }
    env["CHATBOT_PORT"] = str(port)
    log_path = tmp_path / "demo.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command.split(),
            cwd=clone,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        ready = await _wait_ready(f"http://127.0.0.1:{port}", process, log_path)
        assert ready == {"status": "ok", "checks": {"database": "ok", "redis": "disabled"}}
        assert (clone / ".venv" / "bin" / "chatbot").exists()
        assert (clone / "data" / "chatbot.db").exists()
        assert "/demo/demo-chatbot/" in log_path.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


async def _wait_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> object:
    async with aiohttp.ClientSession() as session:
        async with asyncio.timeout(SETUP_TIMEOUT_SECONDS):
            while True:
                if process.poll() is not None:
                    raise AssertionError(f"`make demo` exited:\n{log.read_text()[-3000:]}")
                try:
                    async with session.get(base + "/healthz") as health:
                        if health.status == 200:
                            async with session.get(base + "/readyz") as response:
                                return await response.json()
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.5)
