"""The knowledge base of the `--demo` chatbot: questions and answers about this server."""

from __future__ import annotations

import json
from importlib import resources


def load_demo_knowledge() -> list[dict[str, str]]:
    """The demo entries, each `{"id", "question", "answer"}` (the id is a readable slug)."""
    text = resources.files("chatbot.brains").joinpath("demo_knowledge.json").read_text("utf-8")
    entries: list[dict[str, str]] = json.loads(text)
    return entries
