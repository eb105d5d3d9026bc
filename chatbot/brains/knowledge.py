"""The knowledge brain (the default): answers with the best matching entry, or offers a human."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

from pydantic import ValidationError

from chatbot.brains.base import BrainEvent, BrainReply, BrainRequest, Verdict
from chatbot.brains.schemas import KnowledgeBrainConfig, parse_brain_config

DEFAULT_THRESHOLD = 0.5
STREAM_CHUNK_CHARS = 48


class KnowledgeBrain:
    """Searches the request's knowledge index; below the confidence threshold it hands off."""

    def __init__(self, *, fallback_message: str, threshold: float = DEFAULT_THRESHOLD) -> None:
        self._fallback_message = fallback_message
        self._threshold = threshold

    def reply(self, request: BrainRequest) -> BrainReply:
        return BrainReply(self._events(request), fallback_message=self._fallback_message)

    async def _events(self, request: BrainRequest) -> AsyncIterator[BrainEvent]:
        try:
            config = parse_brain_config(request.config)
        except ValidationError:
            config = KnowledgeBrainConfig()
        threshold = self._threshold
        fallback = self._fallback_message
        if isinstance(config, KnowledgeBrainConfig):
            threshold = config.threshold if config.threshold is not None else threshold
            fallback = config.fallback_message or fallback

        index = request.knowledge
        if index is None or not len(index):
            yield fallback
            yield Verdict(handoff=True, reason="no_knowledge")
            return
        # Embedding the question is CPU work: asearch runs it in a worker thread.
        matches = await index.asearch(request.question, limit=1)
        if not matches or matches[0].confidence < threshold:
            yield fallback
            yield Verdict(
                handoff=True,
                reason="low_confidence",
                confidence=matches[0].confidence if matches else 0.0,
            )
            return
        best = matches[0]
        for chunk in stream_chunks(best.passage.reply_text):
            yield chunk
        yield Verdict(confidence=best.confidence, entry_id=best.passage.entry_id)


def stream_chunks(text: str, size: int = STREAM_CHUNK_CHARS) -> Iterator[str]:
    """The text in pieces of about `size` characters, cut after whitespace; they join back exactly.

    A stored answer is ready at once, but sent in a few deltas it appears the same way as a
    generated one, so the widget has one code path.
    """
    chunk = ""
    for word in re.findall(r"\S+\s*|\s+", text):
        if chunk and len(chunk) + len(word) > size:
            yield chunk
            chunk = ""
        chunk += word
    if chunk:
        yield chunk
