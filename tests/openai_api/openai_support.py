"""Helpers for the `/v1/` tests: an owner with a knowledge chatbot, and raw SSE reading."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from api_support import bearer, create_chatbot, register

OPENING_HOURS = "We are open every day from nine in the morning to five in the evening."
PRICES = "The basic plan costs ten euros a month and the team plan thirty."
KNOWLEDGE = [
    {"question": "When are you open?", "answer": OPENING_HOURS},
    {"question": "How much does it cost?", "answer": PRICES},
]


@dataclass(frozen=True)
class Owner:
    headers: dict[str, str]
    chatbot_id: str
    slug: str


async def owner_with_knowledge_chatbot(http: Any, *, base_url: str = "", **fields: Any) -> Owner:
    """A new account with a knowledge chatbot that knows the opening hours and the prices."""
    headers = bearer((await register(http, base_url=base_url))["access"])
    chatbot = await create_chatbot(http, headers, base_url=base_url, name="Acme help", **fields)
    for entry in KNOWLEDGE:
        response = await http.post(
            f"{base_url}/api/chatbots/{chatbot['id']}/knowledge/", json=entry, headers=headers
        )
        assert response.status == 201, await response.text()
    return Owner(headers=headers, chatbot_id=chatbot["id"], slug=chatbot["slug"])


def ask(slug: str, text: str, **extra: Any) -> dict[str, Any]:
    """A chat completions body asking `text`."""
    return {"model": slug, "messages": [{"role": "user", "content": text}], **extra}


def sse_events(raw: bytes) -> list[str]:
    """The data of each server-sent event, parsed by the SSE rules (independent of the server):
    events are separated by blank lines, each line `field: value`."""
    events = []
    for block in raw.decode("utf-8").split("\n\n"):
        if not block:
            continue
        data = [line[len("data: ") :] for line in block.split("\n") if line.startswith("data: ")]
        assert data, f"an event without data: {block!r}"
        events.append("\n".join(data))
    return events


def chunks_of(raw: bytes) -> list[dict[str, Any]]:
    """The JSON chunks of a streamed completion, which must end with `[DONE]`."""
    events = sse_events(raw)
    assert events[-1] == "[DONE]", events[-3:]
    return [json.loads(event) for event in events[:-1]]
