"""`chatbot serve --demo`: the demo account and the public `demo-chatbot`, made idempotently."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, web

from chatbot.app import create_app
from chatbot.brains.demo import load_demo_knowledge
from chatbot.chatbots.lookup import chatbot_by_slug
from chatbot.demo import DEMO_EMAIL, DEMO_PASSWORD, DEMO_SLUG, add_demo_seeding
from chatbot.knowledge.index import knowledge_index, process_embedder

from conftest import AppClient, SettingsFactory
from support import ServerProcess, until

Starter = Callable[[], Awaitable[AppClient]]


@pytest.fixture
def start_demo(
    aiohttp_client: Callable[[web.Application], Awaitable[AppClient]],
    make_settings: SettingsFactory,
    database_url: str,
) -> Starter:
    """Start an app with demo seeding on this test's database (SQLite, then PostgreSQL)."""

    async def start() -> AppClient:
        app = create_app(make_settings(database_url=database_url, brains={"semantic": False}))
        add_demo_seeding(app)
        return await aiohttp_client(app)

    return start


async def _login(client: AppClient) -> dict[str, str]:
    response = await client.post(
        "/auth/login/", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
    )
    body = await response.json()
    assert response.status == 200, body
    return {"Authorization": f"Bearer {body['access']}"}


async def test_the_demo_login_owns_a_public_demo_chatbot_with_knowledge(
    start_demo: Starter,
) -> None:
    client = await start_demo()

    headers = await _login(client)

    [chatbot] = (await (await client.get("/api/chatbots/", headers=headers)).json())["items"]
    assert chatbot["slug"] == DEMO_SLUG
    assert chatbot["allowed_origins"] == []
    assert chatbot["brain"] == {"type": "knowledge"}
    assert chatbot["greeting"]
    knowledge = await client.get(f"/api/chatbots/{chatbot['id']}/knowledge/", headers=headers)
    questions = [item["question"] for item in (await knowledge.json())["items"]]
    assert questions == [item["question"] for item in load_demo_knowledge()]
    record = await chatbot_by_slug(client.app, DEMO_SLUG)
    assert record is not None
    assert record.id == chatbot["id"]
    probe = await client.post(
        f"/api/chatbots/{chatbot['id']}/knowledge/test/",
        json={"question": "How do I install the server?"},
        headers=headers,
    )
    assert (await probe.json())["answered"] is True


async def _ask(visitor: ClientWebSocketResponse, question: str) -> str:
    """Send a visitor's question and return the text of the bot's next message."""
    client_id = str(uuid.uuid4())
    await visitor.send_json({"type": "message", "text": question, "client_id": client_id})
    asked = False
    # The first answer may wait for the sentence model's index build: seconds on a busy machine.
    async with asyncio.timeout(60):
        while True:
            frame: dict[str, Any] = await visitor.receive_json()
            message = frame.get("message") if frame.get("type") == "message" else None
            if message is None:
                continue
            if message["role"] == "visitor" and message.get("client_id") == client_id:
                asked = True
            elif asked and message["role"] == "bot":
                return str(message["text"])


async def test_the_demo_answers_opening_hours_and_refuses_the_weather_with_the_sentence_model(
    aiohttp_client: Callable[[web.Application], Awaitable[AppClient]],
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(brains={"semantic": True})
    app = create_app(settings)
    add_demo_seeding(app)
    client = await aiohttp_client(app)
    embedder = process_embedder(settings.brains.model_dir)  # the app's own, shared
    assert embedder is not None, "the sentence model is not installed"
    await until(lambda: embedder.loaded, 60, "the sentence model was never loaded")
    record = await chatbot_by_slug(client.app, DEMO_SLUG)
    assert record is not None
    [opening_hours] = [e for e in load_demo_knowledge() if e["id"] == "opening-hours"]

    async with client.ws_connect(f"/ws/chat/public/{DEMO_SLUG}/") as visitor:
        open_answer = await _ask(visitor, "when are you open?")
        weather_answer = await _ask(visitor, "what is the weather tomorrow in Berlin?")

    assert (await knowledge_index(client.app, record.id)).semantic
    assert open_answer == opening_hours["answer"]
    assert weather_answer == settings.brains.fallback_message


async def test_starting_again_in_demo_mode_creates_nothing_twice(start_demo: Starter) -> None:
    first = await start_demo()
    headers = await _login(first)
    [chatbot] = (await (await first.get("/api/chatbots/", headers=headers)).json())["items"]
    entries_path = f"/api/chatbots/{chatbot['id']}/knowledge/"
    entries = await (await first.get(entries_path, headers=headers)).json()
    await first.close()

    second = await start_demo()

    headers = await _login(second)
    after = await (await second.get("/api/chatbots/", headers=headers)).json()
    assert [(c["id"], c["created_at"]) for c in after["items"]] == [
        (chatbot["id"], chatbot["created_at"])
    ]
    assert await (await second.get(entries_path, headers=headers)).json() == entries


@pytest.mark.slow
async def test_serve_demo_prints_the_demo_page_url_and_the_login(tmp_path: Path) -> None:
    (tmp_path / "none.yaml").write_text("{}\n")
    server = ServerProcess(
        {
            "CHATBOT_DATABASE_URL": f"sqlite:///{tmp_path}/chatbot.db",
            "CHATBOT_REDIS_URL": "",
            "CHATBOT_CONFIG": str(tmp_path / "none.yaml"),
            "CHATBOT_BRAINS__SEMANTIC": "false",
        },
        args=("--demo",),
        cwd=tmp_path,
    )
    server.start(tmp_path / "server.log")
    try:
        await server.wait_ready()
        output = server.output()
    finally:
        server.stop()

    assert f"http://127.0.0.1:{server.port}/demo/{DEMO_SLUG}/" in output
    assert DEMO_EMAIL in output
    assert DEMO_PASSWORD in output
