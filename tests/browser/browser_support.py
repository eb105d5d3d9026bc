"""Real processes and fakes for the browser tests: the chat server, its REST API, an operator's
socket, a second web site to embed the widget from, and a slow OpenAI-compatible model server."""

from __future__ import annotations

import asyncio
import html
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import WSMsgType, web
from api_support import register, unique_email
from sqlalchemy import select

from chatbot.storage.engine import create_engine
from chatbot.storage.schema import conversations

from support import FakeModel, LocalSite, ServerProcess, free_port

SECRET_KEY = "browser-tests-secret-key-0123456789abcdef"


class ChatServer:
    """`chatbot serve` on SQLite in `folder`, which can be killed and started again on the
    same port and database."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.starts = 0
        self.process: ServerProcess | None = None
        config = folder / "none.yaml"
        config.write_text("{}\n")
        self.env = {
            "CHATBOT_DATABASE_URL": f"sqlite:///{folder}/chatbot.db",
            "CHATBOT_REDIS_URL": "",
            "CHATBOT_CONFIG": str(config),
            "CHATBOT_SECRET_KEY": SECRET_KEY,
            # BM25 only: the semantic model would slow every start down for nothing here.
            "CHATBOT_BRAINS__SEMANTIC": "false",
            # The fake model servers of the tests listen on this machine.
            "CHATBOT_BRAINS__ALLOW_PRIVATE_BASE_URLS": "true",
        }

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def widget_url(self) -> str:
        return f"{self.base_url}/static/widget.js"

    async def start(self) -> None:
        self.starts += 1
        self.process = ServerProcess(self.env, port=self.port, cwd=self.folder)
        self.process.start(self.folder / f"server-{self.starts}.log")
        await self.process.wait_ready(timeout=30)

    def stop(self) -> None:
        """Kill the process (SIGKILL): its sockets drop without a goodbye."""
        if self.process is not None:
            self.process.stop()


class OwnerApi:
    """A chatbot owner's REST calls against the running server."""

    def __init__(self, server: ChatServer) -> None:
        self.server = server
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        self.token = ""

    async def __aenter__(self) -> OwnerApi:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.session.close()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def call(self, method: str, path: str, status: int, body: Any = None) -> Any:
        url = self.server.base_url + path
        async with self.session.request(method, url, json=body, headers=self.headers) as response:
            text = await response.text()
            assert response.status == status, f"{method} {path}: {response.status} {text}"
            return json.loads(text) if text else None

    async def register(self) -> None:
        email = unique_email("owner")
        base_url = self.server.base_url
        body = await register(self.session, base_url=base_url, email=email, name="Owner")
        self.token = body["access"]

    async def create_chatbot(self, **fields: Any) -> dict[str, Any]:
        chatbot: dict[str, Any] = await self.call(
            "POST", "/api/chatbots/", 201, {"name": "Acme Help", **fields}
        )
        return chatbot

    async def add_knowledge(self, chatbot_id: str, question: str, answer: str) -> None:
        body = {"question": question, "answer": answer}
        await self.call("POST", f"/api/chatbots/{chatbot_id}/knowledge/", 201, body)

    async def conversations(self, chatbot_id: str) -> list[dict[str, Any]]:
        found = await self.call("GET", f"/api/chatbots/{chatbot_id}/conversations/", 200)
        items: list[dict[str, Any]] = found["items"]
        return items

    async def stored(self, conversation_id: str) -> list[tuple[int, str, str]]:
        """The conversation's stored messages as (seq, role, text), in seq order."""
        found = await self.call("GET", f"/api/conversations/{conversation_id}/messages/", 200)
        return [(m["seq"], m["role"], m["text"]) for m in found["items"]]

    async def operator_says(self, conversation_id: str, text: str) -> dict[str, Any]:
        """Send `text` as the operator over the operator WebSocket; returns the stored message."""
        client_id = str(uuid.uuid4())
        frame = {"type": "message", "conversation_id": conversation_id, "text": text}
        found = await self._operator(
            {**frame, "client_id": client_id},
            lambda got: (got.get("message") or {}).get("client_id") == client_id,
        )
        return dict(found["message"])

    async def operator_takes_over(self, conversation_id: str) -> None:
        """Take the conversation over as the operator (status `human`)."""
        await self._operator(
            {"type": "takeover", "conversation_id": conversation_id},
            lambda got: (got.get("conversation") or {}).get("status") == "human",
        )

    async def _operator(
        self, frame: dict[str, Any], done: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        url = self.server.base_url + "/ws/chat/agent/"
        async with self.session.ws_connect(url, headers=self.headers) as ws:
            assert (await _frame(ws))["type"] == "auth_ok"
            await ws.send_json(frame)
            while True:
                got = await _frame(ws)
                assert got["type"] != "error", got
                if done(got):
                    return got

    async def visitor_data(self, conversation_id: str) -> Any:
        """What the widget's `identify()` stored on the conversation, read from the database."""
        engine = create_engine(self.server.env["CHATBOT_DATABASE_URL"])
        try:
            async with engine.connect() as connection:
                query = select(conversations.c.visitor_data).where(
                    conversations.c.id == conversation_id
                )
                return (await connection.execute(query)).scalar_one()
        finally:
            await engine.dispose()


async def _frame(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message = await ws.receive(timeout=10)
    assert message.type == WSMsgType.TEXT, f"expected a text frame, got {message}"
    frame: dict[str, Any] = json.loads(message.data)
    return frame


class SecondSite(LocalSite):
    """Another origin (another port) with a page embedding the widget as a site would."""

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def page_url(self, widget_url: str, slug: str) -> str:
        return f"{self.origin}/shop?widget={quote(widget_url, safe='')}&slug={quote(slug)}"

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/shop", self._page)

    async def _page(self, request: web.Request) -> web.Response:
        src = html.escape(request.query["widget"])
        slug = html.escape(request.query["slug"])
        body = (
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>Shop</title></head>"
            "<body><h1>Another shop</h1><a href=#top>Top</a>"
            f'<script src="{src}" data-chatbot="{slug}" async></script></body></html>'
        )
        return web.Response(text=body, content_type="text/html")


class SlowModel(FakeModel):
    """A model streaming its answer a word at a time, each after `delay`; keeps the requests."""

    def __init__(self, words: list[str], delay: float) -> None:
        super().__init__(words, delay)
        self.requests: list[dict[str, Any]] = []

    async def completions(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(await request.json())
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        done = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        try:
            for word in self.words:
                await asyncio.sleep(self.delay)
                chunk = {"choices": [{"index": 0, "delta": {"content": word}}]}
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await response.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
            await response.write_eof()
        except ConnectionResetError:
            pass  # the chat server went away mid-answer (killed by the test): nobody to tell
        return response
