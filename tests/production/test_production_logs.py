"""Logs: readable lines by default, JSON lines with `--log-format json`, request ids throughout."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from api_support import bearer, create_chatbot, register
from production_support import next_frame, running, server_env

from chatbot.http.request_id import request_id_middleware
from chatbot.logs import log_handler

from conftest import AppClient, ClientFactory
from support import until

LogCapture = Callable[..., io.StringIO]


@pytest.fixture
def capture() -> Iterator[LogCapture]:
    """Attach our handler (format of choice) to a test logger; returns what it wrote."""
    logger = logging.getLogger("test.production")
    attached: list[logging.Handler] = []

    def attach(fmt: str = "json", worker: int | None = None) -> io.StringIO:
        stream = io.StringIO()
        handler = log_handler(fmt, stream, worker=worker)
        logger.addHandler(handler)
        attached.append(handler)
        logger.setLevel(logging.INFO)
        return stream

    yield attach
    for handler in attached:
        logger.removeHandler(handler)


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.slow
async def test_serve_with_json_format_writes_only_json_lines_with_request_ids(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, server_env(tmp_path), "--log-format", "json") as server:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{server.base_url}/healthz") as response:
                made_id = response.headers["X-Request-ID"]
            given_id = "trace-from-the-proxy-42"
            async with session.get(
                f"{server.base_url}/api/chatbots/", headers={"X-Request-ID": given_id}
            ) as response:
                assert response.status == 401
                assert response.headers["X-Request-ID"] == given_id
        server.signal(signal.SIGTERM)
        assert await asyncio.to_thread(server.wait, 30) == 0
    entries = _json_lines(server.output())  # fails on any line that is not JSON
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    access = {
        entry["request_id"]: entry for entry in entries if entry["logger"] == "chatbot.access"
    }
    assert '"GET /healthz" 200' in str(access[made_id]["message"])
    assert '"GET /api/chatbots/" 401' in str(access[given_id]["message"])
    messages = [str(entry["message"]) for entry in entries]
    assert any(message.startswith("serving on http://127.0.0.1:") for message in messages)
    assert "stopped" in messages


@pytest.mark.slow
async def test_serve_writes_readable_lines_with_request_ids_by_default(tmp_path: Path) -> None:
    async with running(tmp_path, server_env(tmp_path)) as server:
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{server.base_url}/healthz", headers={"X-Request-ID": "readable-1"}
            ) as response,
        ):
            assert response.status == 200
        server.signal(signal.SIGTERM)
        assert await asyncio.to_thread(server.wait, 30) == 0
    lines = server.output().splitlines()
    access = [line for line in lines if "chatbot.access" in line]
    assert any('[readable-1] 127.0.0.1 "GET /healthz" 200' in line for line in access), lines
    assert not lines[0].startswith("{")
    # uvloop is a dependency: the default (`auto`) serves on it.
    assert any("serving on http://127.0.0.1:" in line and "(uvloop)" in line for line in lines)


@pytest.mark.slow
async def test_event_loop_asyncio_serves_on_the_standard_loop(tmp_path: Path) -> None:
    env = {**server_env(tmp_path), "CHATBOT_EVENT_LOOP": "asyncio"}
    async with running(tmp_path, env) as server:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{server.base_url}/healthz") as response,
        ):
            assert response.status == 200
        server.signal(signal.SIGTERM)
        assert await asyncio.to_thread(server.wait, 30) == 0
    serving = [line for line in server.output().splitlines() if "serving on" in line]
    assert len(serving) == 1
    assert serving[0].endswith("(asyncio)"), serving


async def test_lines_logged_while_handling_a_request_name_its_id(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    capture: LogCapture,
) -> None:
    stream = capture("json")
    logger = logging.getLogger("test.production")

    async def handler(request: web.Request) -> web.Response:
        logger.info("inside the handler")
        # Work started by the request (a bot answer, a store write) inherits its id.
        await asyncio.create_task(asyncio.to_thread(lambda: None))
        await asyncio.create_task(_log_later(logger))
        return web.Response(text="ok")

    app = web.Application(middlewares=[request_id_middleware])
    app.router.add_get("/", handler)
    client = await aiohttp_client(app)
    for request_id in ("first-request", "second-request"):
        response = await client.get("/", headers={"X-Request-ID": request_id})
        assert response.status == 200
    logger.info("outside any request")
    entries = _json_lines(stream.getvalue())
    assert [(entry["message"], entry["request_id"]) for entry in entries] == [
        ("inside the handler", "first-request"),
        ("from a task", "first-request"),
        ("inside the handler", "second-request"),
        ("from a task", "second-request"),
        ("outside any request", "-"),
    ]


async def _log_later(logger: logging.Logger) -> None:
    await asyncio.sleep(0)
    logger.info("from a task")


def test_a_traceback_stays_inside_one_json_line(capture: LogCapture) -> None:
    stream = capture("json", worker=4242)
    logger = logging.getLogger("test.production")
    try:
        raise ValueError("broken\nacross lines")
    except ValueError:
        logger.exception("it failed", extra={"request_id": "r-1"})
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["level"] == "error"
    assert entry["message"] == "it failed"
    assert entry["request_id"] == "r-1"
    assert entry["worker"] == 4242
    assert "ValueError: broken" in str(entry["exception"])


def test_text_lines_name_the_worker_in_workers_mode(capture: LogCapture) -> None:
    stream = capture("text", worker=4242)
    logging.getLogger("test.production").warning("hello")
    line = stream.getvalue().strip()
    assert line.endswith("WARNING worker 4242 test.production [-] hello")


async def test_the_access_log_masks_the_visitor_token_of_a_socket_url(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client(access_log=True)  # on by default in `chatbot serve`
    account = await register(client)
    chatbot = await create_chatbot(client, bearer(account["access"]), name="Logged", greeting="")
    path = f"/ws/chat/public/{chatbot['slug']}/"
    caplog.set_level(logging.INFO, logger="chatbot.access")
    async with client.ws_connect(path) as ws:
        visitor_token = (await next_frame(ws))["visitor_token"]
    async with client.ws_connect(f"{path}?visitor_token={visitor_token}&lang=en") as ws:
        assert (await next_frame(ws))["visitor_token"] == visitor_token

    def resumed_line_logged() -> bool:
        return any("visitor_token=" in record.getMessage() for record in caplog.records)

    await until(resumed_line_logged, 10, "the resumed socket was not logged")
    lines = [record.getMessage() for record in caplog.records]
    assert any(f'"GET {path}?visitor_token=***&lang=en" 101' in line for line in lines), lines
    assert all(visitor_token not in line for line in lines), lines


async def _raw_exchange(port: int, head: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send a raw request head; the status, headers and body of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=10)  # the server closes
    finally:
        writer.close()
    head_part, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head_part.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, body


@pytest.mark.slow
async def test_a_request_line_or_header_over_8_kb_gets_the_json_error_and_no_traceback(
    tmp_path: Path,
) -> None:
    long_path = "/api/chatbots/?q=" + "x" * 9000
    heads = [
        f"GET {long_path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode(),
        b"GET /api/chatbots/ HTTP/1.1\r\nHost: localhost\r\nX-Long: " + b"y" * 9000 + b"\r\n\r\n",
    ]
    async with running(tmp_path, server_env(tmp_path)) as server:
        for head in heads:
            status, headers, body = await _raw_exchange(server.port, head)
            assert status == 400, body
            assert headers["content-type"].startswith("application/json"), headers
            error = json.loads(body)["error"]
            assert error["code"] == "request_head_too_large"
            assert "8 KB" in error["message"]
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{server.base_url}/healthz") as response,
        ):
            assert response.status == 200  # the server goes on
        server.signal(signal.SIGTERM)
        assert await asyncio.to_thread(server.wait, 30) == 0
    output = server.output()
    assert "Traceback" not in output
    refused = [line for line in output.splitlines() if "not valid HTTP" in line]
    assert len(refused) == 2, output
    assert all(" INFO " in line or "INFO" in line for line in refused), refused
    assert "x" * 300 not in output  # the logged reason is cut short


@pytest.mark.slow
async def test_a_server_that_anonymises_addresses_logs_only_their_network(
    tmp_path: Path,
) -> None:
    env = server_env(tmp_path, CHATBOT_PRIVACY__ANONYMIZE_ADDRESSES="on")
    async with running(tmp_path, env) as server:
        status, _, _ = await _raw_exchange(
            server.port, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Long: " + b"y" * 9000
        )
        assert status == 400
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{server.base_url}/healthz") as response,
        ):
            assert response.status == 200
        server.signal(signal.SIGTERM)
        assert await asyncio.to_thread(server.wait, 30) == 0
    output = server.output()
    refused = [line for line in output.splitlines() if "not valid HTTP" in line]
    served = [line for line in output.splitlines() if '"GET /healthz"' in line]
    assert refused, output
    assert served, output
    assert all("from 127.0.0.0 " in line for line in refused), refused
    assert all('127.0.0.0 "GET /healthz"' in line for line in served), served
    logged = [line for line in output.splitlines() if "chatbot.access" in line or "refused" in line]
    assert not [line for line in logged if "127.0.0.1" in line], logged
