"""Schemathesis against the served OpenAPI document of a real `chatbot serve` process.

It generates requests from the document (valid and invalid, bounded in number), sends them
with a real access token, and checks every answer: no 500s, statuses, headers and bodies as
documented, invalid input refused, protected routes refusing missing or bad tokens.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from conftest import TEST_SECRET_KEY
from support import ServerProcess

pytestmark = pytest.mark.slow

SCHEMATHESIS = Path(sys.executable).parent / "st"
GENEROUS = "100000/minute"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    (tmp_path / "none.yaml").write_text("{}\n")
    process = ServerProcess(
        {
            "CHATBOT_DATABASE_URL": f"sqlite:///{tmp_path}/chatbot.db",
            "CHATBOT_REDIS_URL": "",
            "CHATBOT_CONFIG": str(tmp_path / "none.yaml"),
            "CHATBOT_SECRET_KEY": TEST_SECRET_KEY,
            "CHATBOT_ACCESS_LOG": "false",
            # Generous limits: the run is about the API's answers, not about being throttled.
            "CHATBOT_RATE_LIMITS__PER_ADDRESS": GENEROUS,
            "CHATBOT_RATE_LIMITS__LOGIN_PER_ADDRESS": GENEROUS,
            "CHATBOT_RATE_LIMITS__LOGIN_PER_ACCOUNT": GENEROUS,
            "CHATBOT_RATE_LIMITS__REGISTER_PER_ADDRESS": GENEROUS,
        },
        cwd=tmp_path,
    )
    process.start(tmp_path / "server.log")
    try:
        await process.wait_ready()
        yield process
    finally:
        process.stop()


async def seeded_conversation(base_url: str, token: str) -> str:
    """A conversation with one visitor message, made as a visitor makes it: over the socket.

    The REST API reads conversations but cannot create them, so without one the messages
    route can only answer 404 and schemathesis warns that it lacks test data.
    """
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            base_url + "/api/chatbots/",
            json={"name": "Seeded", "brain": {"type": "echo"}},
            headers=headers,
        )
        chatbot = await response.json()
        assert response.status == 201, chatbot
        url = base_url.replace("http", "ws", 1) + f"/ws/chat/public/{chatbot['slug']}/"
        async with session.ws_connect(url) as socket:
            welcome = await socket.receive_json(timeout=10)
            await socket.send_json({"type": "message", "text": "Hello", "client_id": "seed"})
            while True:
                frame = await socket.receive_json(timeout=10)
                if frame["type"] == "message" and frame["message"]["role"] == "bot":
                    break
        conversation_id: str = welcome["conversation_id"]
        return conversation_id


async def access_token(base_url: str) -> str:
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            base_url + "/auth/register/",
            json={"email": "schemathesis@example.com", "password": "correct horse battery"},
        )
        body = await response.json()
        assert response.status == 201, body
        token: str = body["access"]
        return token


def run_schemathesis(
    base_url: str, token: str, config: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(config),
            "run",
            base_url + "/api/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "20",
            "--workers",
            "1",
            # Generous: on a busy machine the first knowledge question may wait seconds for
            # the sentence model; speed is the benchmarks' business, answers are this test's.
            "--request-timeout",
            "30",
            "-H",
            f"Authorization: Bearer {token}",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(
    "selection",
    [
        pytest.param(("--include-path-regex", "^/(auth|healthz|readyz)"), id="accounts-and-health"),
        pytest.param((), id="every-route"),
    ],
)
async def test_schemathesis_finds_no_failures(
    server: ServerProcess, selection: tuple[str, ...], tmp_path: Path
) -> None:
    token = await access_token(server.base_url)
    conversation_id = await seeded_conversation(server.base_url, token)
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        "[[operations]]\n"
        'include-path = "/api/conversations/{conversation_id}/messages/"\n'
        f'parameters = {{ conversation_id = "{conversation_id}" }}\n'
    )
    result = await asyncio.to_thread(run_schemathesis, server.base_url, token, config, *selection)
    report = result.stdout[-15000:] + result.stderr[-3000:]
    assert result.returncode == 0, report
    assert "No issues found" in result.stdout, report
    # The error middleware logs every 500 as "unexpected error" (aiohttp's own parser logs a
    # traceback for the NUL byte header schemathesis probes with, and answers it 400).
    assert "unexpected error" not in server.output(), server.output()[-5000:]
