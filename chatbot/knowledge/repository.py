"""Knowledge entries and their passages, stored together in one transaction."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatbot.storage.schema import knowledge_entries, knowledge_passages
from chatbot.storage.values import as_utc, iso, new_id, utcnow


@dataclass(frozen=True, slots=True)
class PassageDraft:
    """A passage to store: the text searched and the reply the bot sends when it matches."""

    text: str
    reply: str
    embedding: bytes | None = None


@dataclass(frozen=True, slots=True)
class EntryDraft:
    """A knowledge entry to store, with its passages already split."""

    kind: str  # "qa" or "document"
    passages: Sequence[PassageDraft]
    question: str | None = None
    answer: str | None = None
    title: str | None = None
    content: str | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class KnowledgeEntry:
    """A stored knowledge entry; `passages` counts its passages."""

    id: str
    chatbot_id: str
    kind: str
    question: str | None
    answer: str | None
    title: str | None
    content: str | None
    source: str | None
    passages: int
    created_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "chatbot_id": self.chatbot_id,
            "kind": self.kind,
            "question": self.question,
            "answer": self.answer,
            "title": self.title,
            "content": self.content,
            "source": self.source,
            "passages": self.passages,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class StoredPassage:
    """A passage as the knowledge index is built from it."""

    id: str
    entry_id: str
    position: int
    text: str
    reply: str
    embedding: bytes | None = field(default=None, repr=False)


def _entry(row: Row[Any], passages: int) -> KnowledgeEntry:
    return KnowledgeEntry(
        id=row.id,
        chatbot_id=row.chatbot_id,
        kind=row.kind,
        question=row.question,
        answer=row.answer,
        title=row.title,
        content=row.content,
        source=row.source,
        passages=passages,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


async def _insert_passages(
    connection: AsyncConnection, chatbot_id: str, entry_id: str, passages: Sequence[PassageDraft]
) -> None:
    if not passages:
        return
    await connection.execute(
        insert(knowledge_passages),
        [
            {
                "id": new_id(),
                "entry_id": entry_id,
                "chatbot_id": chatbot_id,
                "position": position,
                "text": passage.text,
                "reply": passage.reply,
                "embedding": passage.embedding,
            }
            for position, passage in enumerate(passages)
        ],
    )


async def add_entries(
    engine: AsyncEngine,
    chatbot_id: str,
    drafts: Sequence[EntryDraft],
    *,
    replace_sources: Collection[str] = (),
) -> list[KnowledgeEntry]:
    """Store the entries with their passages, all or none.

    Entries imported before from a file named in `replace_sources` are deleted in the same
    transaction, so that importing a changed file again updates it instead of duplicating it.
    """
    start = utcnow()
    entries = []
    async with engine.begin() as connection:
        if replace_sources:
            await connection.execute(
                delete(knowledge_entries).where(
                    knowledge_entries.c.chatbot_id == chatbot_id,
                    knowledge_entries.c.source.in_(list(replace_sources)),
                )
            )
        for position, draft in enumerate(drafts):
            # A microsecond apart, so that lists show the entries in the order they were sent.
            now = start + timedelta(microseconds=position)
            entry = KnowledgeEntry(
                id=new_id(),
                chatbot_id=chatbot_id,
                kind=draft.kind,
                question=draft.question,
                answer=draft.answer,
                title=draft.title,
                content=draft.content,
                source=draft.source,
                passages=len(draft.passages),
                created_at=now,
                updated_at=now,
            )
            values = {
                name: getattr(entry, name)
                for name in knowledge_entries.c.keys()  # noqa: SIM118 - a column collection
            }
            await connection.execute(insert(knowledge_entries).values(**values))
            await _insert_passages(connection, chatbot_id, entry.id, draft.passages)
            entries.append(entry)
    return entries


def _passage_counts() -> Any:
    return (
        select(knowledge_passages.c.entry_id, func.count().label("passages"))
        .group_by(knowledge_passages.c.entry_id)
        .subquery()
    )


async def list_entries(
    engine: AsyncEngine, chatbot_id: str, ids: Collection[str] | None = None
) -> list[KnowledgeEntry]:
    """The chatbot's entries (only those in `ids` when given), oldest first."""
    counts = _passage_counts()
    query = (
        select(knowledge_entries, func.coalesce(counts.c.passages, 0).label("passage_count"))
        .outerjoin(counts, counts.c.entry_id == knowledge_entries.c.id)
        .where(knowledge_entries.c.chatbot_id == chatbot_id)
        .order_by(knowledge_entries.c.created_at, knowledge_entries.c.id)
    )
    if ids is not None:
        query = query.where(knowledge_entries.c.id.in_(list(ids)))
    async with engine.connect() as connection:
        return [_entry(row, row.passage_count) for row in await connection.execute(query)]


async def get_entry(engine: AsyncEngine, chatbot_id: str, entry_id: str) -> KnowledgeEntry | None:
    """One entry of this chatbot, or None."""
    async with engine.connect() as connection:
        return await _get_entry(connection, chatbot_id, entry_id)


async def _get_entry(
    connection: AsyncConnection, chatbot_id: str, entry_id: str
) -> KnowledgeEntry | None:
    row = (
        await connection.execute(
            select(knowledge_entries).where(
                knowledge_entries.c.id == entry_id, knowledge_entries.c.chatbot_id == chatbot_id
            )
        )
    ).first()
    if row is None:
        return None
    count = (
        await connection.execute(
            select(func.count()).where(knowledge_passages.c.entry_id == entry_id)
        )
    ).scalar_one()
    return _entry(row, count)


async def update_entry(
    engine: AsyncEngine,
    chatbot_id: str,
    entry_id: str,
    changes: Mapping[str, str],
    passages: Sequence[PassageDraft],
) -> KnowledgeEntry | None:
    """Change the entry's fields and replace its passages; None when it does not exist."""
    owned = (knowledge_entries.c.id == entry_id, knowledge_entries.c.chatbot_id == chatbot_id)
    async with engine.begin() as connection:
        result = await connection.execute(
            update(knowledge_entries).where(*owned).values(**changes, updated_at=utcnow())
        )
        if result.rowcount == 0:
            return None
        await connection.execute(
            delete(knowledge_passages).where(knowledge_passages.c.entry_id == entry_id)
        )
        await _insert_passages(connection, chatbot_id, entry_id, passages)
        return await _get_entry(connection, chatbot_id, entry_id)


async def delete_entry(engine: AsyncEngine, chatbot_id: str, entry_id: str) -> bool:
    """Delete the entry and its passages; False when it does not exist."""
    async with engine.begin() as connection:
        result = await connection.execute(
            delete(knowledge_entries).where(
                knowledge_entries.c.id == entry_id, knowledge_entries.c.chatbot_id == chatbot_id
            )
        )
    return bool(result.rowcount)


async def load_passages(
    engine: AsyncEngine, chatbot_id: str, entry_ids: Collection[str] | None = None
) -> list[StoredPassage]:
    """Every passage of the chatbot (only of the entries in `entry_ids` when given), in order."""
    query = (
        select(knowledge_passages)
        .where(knowledge_passages.c.chatbot_id == chatbot_id)
        .order_by(knowledge_passages.c.entry_id, knowledge_passages.c.position)
    )
    if entry_ids is not None:
        query = query.where(knowledge_passages.c.entry_id.in_(list(entry_ids)))
    async with engine.connect() as connection:
        return [
            StoredPassage(
                id=row.id,
                entry_id=row.entry_id,
                position=row.position,
                text=row.text,
                reply=row.reply,
                embedding=row.embedding,
            )
            for row in await connection.execute(query)
        ]


async def entry_versions(engine: AsyncEngine, chatbot_id: str) -> dict[str, datetime]:
    """When each of the chatbot's entries last changed, by entry id."""
    query = select(knowledge_entries.c.id, knowledge_entries.c.updated_at).where(
        knowledge_entries.c.chatbot_id == chatbot_id
    )
    async with engine.connect() as connection:
        return {row.id: row.updated_at for row in await connection.execute(query)}


async def any_knowledge(engine: AsyncEngine) -> bool:
    """Whether any chatbot has knowledge to search."""
    async with engine.connect() as connection:
        found = await connection.execute(select(knowledge_passages.c.id).limit(1))
        return found.first() is not None


async def knowledge_fingerprint(engine: AsyncEngine, chatbot_id: str) -> str:
    """Changes whenever an entry of the chatbot is added, changed or deleted."""
    query = select(func.count(), func.max(knowledge_entries.c.updated_at)).where(
        knowledge_entries.c.chatbot_id == chatbot_id
    )
    async with engine.connect() as connection:
        count, latest = (await connection.execute(query)).one()
    return f"{count}:{iso(latest) if latest is not None else '-'}"
