"""Passages' embeddings: read from storage, the missing ones computed once and stored."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.knowledge.drafts import searchable
from chatbot.knowledge.repository import StoredPassage
from chatbot.retrieval.embedder import Embedder, TextEmbedding
from chatbot.retrieval.passages import Passage
from chatbot.storage.schema import knowledge_passages

EMBEDDING_BATCH = 32  # passages per embedding call: the model is shared, one call at a time


def missing_embeddings(stored: Sequence[StoredPassage]) -> int:
    """How many of the passages have no stored embedding yet."""
    return sum(1 for passage in stored if passage.embedding is None)


async def embedded_passages(
    engine: AsyncEngine, embedder: Embedder, stored: Sequence[StoredPassage]
) -> list[Passage]:
    """The passages with their embeddings, the missing ones computed and saved for next time."""
    known = [
        TextEmbedding.from_bytes(p.embedding) if p.embedding is not None else None for p in stored
    ]
    missing = [position for position, item in enumerate(known) if item is None]
    computed: list[TextEmbedding] = []
    for start in range(0, len(missing), EMBEDDING_BATCH):
        batch = [stored[position].text for position in missing[start : start + EMBEDDING_BATCH]]
        computed += await asyncio.to_thread(embedder.embed, batch)
    for position, item in zip(missing, computed, strict=True):
        known[position] = item
    if missing:
        statement = (
            update(knowledge_passages)
            .where(knowledge_passages.c.id == bindparam("passage_id"))
            .values(embedding=bindparam("embedding"))
        )
        rows = [
            {"passage_id": stored[position].id, "embedding": item.to_bytes()}
            for position, item in zip(missing, computed, strict=True)
        ]
        async with engine.begin() as connection:
            await connection.execute(statement, rows)
    return [
        dataclasses.replace(searchable(passage), embedding=embedding)
        for passage, embedding in zip(stored, known, strict=True)
    ]
