"""Benchmark: `GET /auth/me/` against a bare aiohttp handler that only verifies the same JWT.

Starts both servers as subprocesses on 127.0.0.1, loads each with `wrk` (or, without it, an
aiohttp client in a separate process) for a bounded time, and prints requests/s and the ratio.

    .venv/bin/python bench/auth_me.py [--duration 10] [--rounds 3] [--connections 32]
        [--rate-limits on|off] [--token-cache on|off] [--clients 5000]

The app runs with its default settings, except the access log (off, as the bare handler has
none) and the proxy setting: the load comes from `--clients` client addresses named in
X-Forwarded-For, as behind a reverse proxy, so that the default per-address rate limit
(1200/minute) is counted on every request without refusing the benchmark's traffic.
The goal is a ratio of at least 0.6; the exit status is 1 below it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SECRET_KEY = "benchmark-secret-key-that-is-long-enough-0123456789"  # noqa: S105
GOAL = 0.6
# Each request names one of `clients` addresses, cycling, as a proxy in front would.
WRK_SCRIPT = """
local clients = tonumber(os.getenv("BENCH_CLIENTS"))
local n = 0
request = function()
  n = n + 1
  local c = n % clients
  local a, b = math.floor(c / 65536), math.floor(c / 256) % 256
  wrk.headers["X-Forwarded-For"] = "10." .. a .. "." .. b .. "." .. (c % 256)
  return wrk.format(nil)
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def address(client: int) -> str:
    return f"10.{client // 65536}.{client // 256 % 256}.{client % 256}"


def wait_ok(request: urllib.request.Request, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(request, timeout=1).close()  # noqa: S310 (a local URL)
            return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"server not ready: {request.full_url}") from None
            time.sleep(0.1)


def bare_server(port: int) -> None:
    """The baseline: aiohttp, one handler, PyJWT verifying the token with the same options."""
    import jwt
    from aiohttp import web

    from chatbot.auth.tokens import REQUIRED_CLAIMS, signing_key

    key = signing_key(SECRET_KEY)

    async def me(request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["HS256"],
                audience="chatbot",
                issuer="chatbot",
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.InvalidTokenError:
            return web.json_response({"error": "invalid token"}, status=401)
        return web.json_response({"id": claims["sub"]})

    app = web.Application()
    app.router.add_get("/auth/me/", me)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def client_load(url: str, token: str, duration: float, connections: int, clients: int) -> None:
    """Fallback load generator (a process of its own): prints requests/s as JSON."""
    import aiohttp

    async def run() -> None:
        done = errors = 0
        deadline = time.monotonic() + duration
        connector = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def worker() -> None:
                nonlocal done, errors
                while time.monotonic() < deadline:
                    headers = {
                        "Authorization": f"Bearer {token}",
                        "X-Forwarded-For": address(random.randrange(clients)),
                    }
                    async with session.get(url, headers=headers) as response:
                        await response.read()
                        done += 1
                        errors += response.status != 200

            started = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(connections)))
            elapsed = time.monotonic() - started
        print(json.dumps({"rps": done / elapsed, "errors": errors}))

    asyncio.run(run())


def measure(url: str, token: str, duration: int, args: argparse.Namespace, script: Path) -> float:
    """Requests per second that `url` sustains; refuses to count non-200 answers."""
    wrk = shutil.which("wrk")
    if wrk:
        header = f"Authorization: Bearer {token}"
        command = [wrk, "-t1", f"-c{args.connections}", f"-d{duration}s", "-H", header]
        output = subprocess.run(
            [*command, "-s", str(script), url],
            capture_output=True,
            text=True,
            timeout=duration + 30,
            check=True,
            env={**os.environ, "BENCH_CLIENTS": str(args.clients)},
        ).stdout
        if "Non-2xx" in output:
            raise SystemExit(f"{url} answered errors under load:\n{output}")
        match = re.search(r"Requests/sec:\s+([\d.]+)", output)
        if match is None:
            raise SystemExit(f"could not read wrk's output:\n{output}")
        return float(match.group(1))
    loader = [sys.executable, __file__, "--load", url, token]
    output = subprocess.run(
        [*loader, str(duration), str(args.connections), str(args.clients)],
        capture_output=True,
        text=True,
        timeout=duration + 30,
        check=True,
    ).stdout
    result = json.loads(output)
    if result["errors"]:
        raise SystemExit(f"{url} answered {result['errors']} errors under load")
    rps: float = result["rps"]
    return rps


def register(base_url: str) -> str:
    request = urllib.request.Request(  # noqa: S310 (a local URL)
        base_url + "/auth/register/",
        data=json.dumps({"email": "bench@example.com", "password": "benchmark password"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        token: str = json.load(response)["access"]
        return token


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--rounds", type=int, default=3, help="measured runs per server")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--clients", type=int, default=5000, help="client addresses to spread")
    parser.add_argument("--rate-limits", choices=("on", "off"), default="on")
    parser.add_argument(
        "--token-cache",
        choices=("on", "off"),
        default="on",
        help="on: the app remembers verified tokens (its default); off: verifies every request",
    )
    return parser


def _runs(values: list[float]) -> str:
    return ", ".join(f"{value:.0f}" for value in values)


def main() -> int:
    args = _parser().parse_args()
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "none.yaml").write_text("{}\n")
        script = Path(tmp) / "clients.lua"
        script.write_text(WRK_SCRIPT)
        env = {
            **os.environ,
            "CHATBOT_CONFIG": str(Path(tmp) / "none.yaml"),
            "CHATBOT_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
            "CHATBOT_REDIS_URL": "",
            "CHATBOT_SECRET_KEY": SECRET_KEY,
            "CHATBOT_ACCESS_LOG": "false",
            "CHATBOT_LOG_LEVEL": "warning",
            "CHATBOT_RATE_LIMITS__ENABLED": str(args.rate_limits == "on").lower(),
            "CHATBOT_RATE_LIMITS__TRUST_FORWARDED_FOR": "true",
            "CHATBOT_AUTH__VERIFIED_TOKEN_CACHE_SIZE": {"on": "10000", "off": "0"}[
                args.token_cache
            ],
        }
        app_port, bare_port = free_port(), free_port()
        app_url, bare_url = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{bare_port}"
        try:
            serve = [sys.executable, "-m", "chatbot", "serve", "--port", str(app_port)]
            app = subprocess.Popen(serve, env=env, cwd=tmp, stdout=subprocess.DEVNULL)
            processes.append(app)
            baseline = [sys.executable, __file__, "--bare-server", str(bare_port)]
            bare = subprocess.Popen(baseline, cwd=REPO, stdout=subprocess.DEVNULL)
            processes.append(bare)
            wait_ok(urllib.request.Request(app_url + "/readyz"), app)  # noqa: S310
            token = register(app_url)
            headers = {"Authorization": f"Bearer {token}"}
            wait_ok(urllib.request.Request(bare_url + "/auth/me/", headers=headers), bare)  # noqa: S310
            # A short warm-up each, then rounds alternating between the two servers, so that
            # other load on the machine weighs on both alike; the medians are compared.
            for url in (bare_url, app_url):
                measure(url + "/auth/me/", token, 2, args, script)
            bare_runs: list[float] = []
            app_runs: list[float] = []
            for _ in range(args.rounds):
                bare_runs.append(
                    measure(bare_url + "/auth/me/", token, args.duration, args, script)
                )
                app_runs.append(measure(app_url + "/auth/me/", token, args.duration, args, script))
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=15)
    bare_rps, app_rps = statistics.median(bare_runs), statistics.median(app_runs)
    ratio = app_rps / bare_rps
    tool = "wrk" if shutil.which("wrk") else "aiohttp client"
    print(
        f"load: {tool}, {args.connections} connections from {args.clients} client addresses, "
        f"{args.rounds} rounds of {args.duration}s per server, medians"
    )
    print(f"rate limits: {args.rate_limits}, verified-token cache: {args.token_cache}")
    print(f"bare JWT handler:  {bare_rps:10.1f} requests/s  (runs: {_runs(bare_runs)})")
    print(f"GET /auth/me/:     {app_rps:10.1f} requests/s  (runs: {_runs(app_runs)})")
    print(f"ratio:             {ratio:10.2f} (goal >= {GOAL})")
    return 0 if ratio >= GOAL else 1


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--bare-server":
        bare_server(int(sys.argv[2]))
    elif len(sys.argv) == 7 and sys.argv[1] == "--load":
        url, token, duration, connections, clients = sys.argv[2:]
        client_load(url, token, float(duration), int(connections), int(clients))
    else:
        sys.exit(main())
