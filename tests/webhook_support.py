"""A local webhook receiver, and a Standard Webhooks verifier written from the spec.

The verifier is deliberately independent of `chatbot.webhooks`: it reads the spec's rules
(strip `whsec_`, base64-decode the key, HMAC-SHA256 over `{id}.{timestamp}.{body}`, compare
each `v1,` signature in constant time, refuse timestamps more than 5 minutes away).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from api_support import bearer, create_chatbot, register

from support import LocalSite

TOLERANCE_SECONDS = 300
# Retries after 0.2 s each, four of them (five attempts in all), looked for every 0.1 s.
FAST_RETRIES = {
    "allow_private_targets": True,
    "retry_delays_seconds": [0.2, 0.2, 0.2, 0.2],
    "retry_jitter": 0.0,
    "poll_seconds": 0.1,
}


class SignatureError(AssertionError):
    pass


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The body's JSON if the Standard Webhooks headers sign it with `secret`; else raises."""
    lowered = {key.lower(): value for key, value in headers.items()}
    msg_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (msg_id and stamp and signatures):
        raise SignatureError("missing a webhook-id, webhook-timestamp or webhook-signature header")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > TOLERANCE_SECONDS:
        raise SignatureError(f"timestamp {stamp!r} is not within 5 minutes of now")
    if not secret.startswith("whsec_"):
        raise SignatureError("the secret does not start with whsec_")
    key = base64.b64decode(secret[len("whsec_") :])
    content = msg_id.encode() + b"." + stamp.encode() + b"." + body
    expected = hmac.new(key, content, hashlib.sha256).digest()
    for candidate in signatures.split(" "):
        version, _, encoded = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(base64.b64decode(encoded), expected):
            parsed: dict[str, Any] = json.loads(body)
            return parsed
    raise SignatureError("no v1 signature matches")


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


class Receiver(LocalSite):
    """Records every POST to /hook; answers the scripted statuses in turn, then `default`.

    While `held` is clear, requests wait (as a receiver that never answers).
    """

    def __init__(self, answers: list[int] | None = None, default: int = 200) -> None:
        super().__init__()
        self.answers = list(answers or [])
        self.default = default
        self.received: list[Received] = []
        self.held = asyncio.Event()
        self.held.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/hook", self.hook)

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(Received(dict(request.headers), body))
        await self.held.wait()
        status = self.answers.pop(0) if self.answers else self.default
        return web.Response(status=status, text="ok")

    def of_type(self, event_type: str) -> list[Received]:
        return [r for r in self.received if r.json["type"] == event_type]

    async def wait_for(self, count: int, timeout: float = 15.0, event_type: str = "") -> None:
        deadline = time.monotonic() + timeout
        while True:
            got = len(self.of_type(event_type) if event_type else self.received)
            if got >= count:
                return
            assert time.monotonic() < deadline, (
                f"the receiver got {got} of {count} deliveries within {timeout} s"
            )
            await asyncio.sleep(0.05)


async def account(http: Any, base_url: str = "") -> tuple[dict[str, str], str]:
    """A new account: its headers and its own workspace's id."""
    session = await register(http, base_url=base_url)
    headers = bearer(session["access"])
    return headers, await own_workspace_id(http, headers, base_url)


async def own_workspace_id(http: Any, headers: dict[str, str], base_url: str = "") -> str:
    """The id of the workspace the account owns (from `GET /api/workspaces/`)."""
    response = await http.get(f"{base_url}/api/workspaces/", headers=headers)
    body: dict[str, Any] = await response.json()
    assert response.status == 200, body
    owned = [item["id"] for item in body["items"] if item["role"] == "owner"]
    assert len(owned) == 1, body
    return owned[0]


async def echo_chatbot(http: Any, headers: dict[str, str], base_url: str = "") -> dict[str, Any]:
    return await create_chatbot(
        http, headers, base_url=base_url, name="Hooked", brain={"type": "echo"}
    )


async def add_webhook(
    http: Any,
    headers: dict[str, str],
    workspace_id: str,
    url: str,
    events: list[str] | None = None,
    base_url: str = "",
) -> dict[str, Any]:
    body = {"url": url, "events": events or ["message.created"]}
    response = await http.post(
        f"{base_url}/api/workspaces/{workspace_id}/webhooks/", json=body, headers=headers
    )
    created: dict[str, Any] = await response.json()
    assert response.status == 201, created
    return created


async def deliveries(
    http: Any, headers: dict[str, str], workspace_id: str, webhook_id: str, base_url: str = ""
) -> list[dict[str, Any]]:
    path = f"{base_url}/api/workspaces/{workspace_id}/webhooks/{webhook_id}/deliveries/?limit=200"
    response = await http.get(path, headers=headers)
    body: dict[str, Any] = await response.json()
    assert response.status == 200, body
    items: list[dict[str, Any]] = body["items"]
    return items


async def until_deliveries(
    http: Any,
    headers: dict[str, str],
    workspace_id: str,
    webhook_id: str,
    check: Any,
    timeout: float = 15.0,
    base_url: str = "",
) -> list[dict[str, Any]]:
    """The deliveries once `check(items)` holds (fails the test after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        items = await deliveries(http, headers, workspace_id, webhook_id, base_url)
        if check(items):
            return items
        assert time.monotonic() < deadline, f"deliveries never got there: {items}"
        await asyncio.sleep(0.1)
