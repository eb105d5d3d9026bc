"""One function per knowledge write: the write, then the chatbot's index marked stale everywhere.

REST handlers, dashboard views and the demo seeding call these after checking the workspace
policy, so that the next question on any instance is answered from the knowledge just written.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from chatbot import keys
from chatbot.errors import Conflict, NotFound
from chatbot.knowledge import repository as repo
from chatbot.knowledge.drafts import document_draft, entry_passages, pair_draft
from chatbot.knowledge.index import knowledge_changed
from chatbot.knowledge.parse_pool import PARSE_POOL
from chatbot.knowledge.repository import EntryDraft, KnowledgeEntry
from chatbot.knowledge.schemas import KnowledgeCreate, KnowledgeUpdate
from chatbot.knowledge.uploads import UploadedFile, parse_files

_PAIR_FIELDS = frozenset({"question", "answer"})
_DOCUMENT_FIELDS = frozenset({"title", "content"})


def entry_not_found(entry_id: str) -> NotFound:
    return NotFound(f"no knowledge entry with id {entry_id!r}", code="entry_not_found")


async def add_drafts(
    app: web.Application, chatbot_id: str, drafts: Sequence[EntryDraft]
) -> list[KnowledgeEntry]:
    """Store these entries (all or none) for the chatbot."""
    entries = await repo.add_entries(app[keys.ENGINE], chatbot_id, drafts)
    await knowledge_changed(app, chatbot_id)
    return entries


async def add_entry(app: web.Application, chatbot_id: str, body: KnowledgeCreate) -> KnowledgeEntry:
    """The question/answer pair or the document `body` describes, stored for the chatbot."""
    if body.kind == "qa":
        draft = pair_draft(body.question or "", body.answer or "")
    else:
        draft = document_draft(body.title or "", body.content or "")
    [entry] = await add_drafts(app, chatbot_id, [draft])
    return entry


async def add_files(
    app: web.Application, chatbot_id: str, files: list[UploadedFile]
) -> list[KnowledgeEntry]:
    """One document per uploaded file; every file is parsed before anything is stored.

    Raises the API error of the first file that cannot be read (nothing is stored then).
    """
    drafts = await parse_files(app[PARSE_POOL], files)
    return await add_drafts(app, chatbot_id, drafts)


def _own_fields(entry: KnowledgeEntry) -> frozenset[str]:
    return _PAIR_FIELDS if entry.kind == "qa" else _DOCUMENT_FIELDS


def _kind_mismatch(entry: KnowledgeEntry, wrong: list[str]) -> Conflict:
    # A valid body for the other kind of entry: it conflicts with this entry's kind.
    kind = "a question/answer pair" if entry.kind == "qa" else "a document"
    fields = " and/or ".join(sorted(_own_fields(entry)))
    return Conflict(
        f"this entry is {kind}: it has no {', '.join(wrong)}; send {fields}",
        code="entry_kind_mismatch",
        fields=[{"field": name, "message": f"not a field of {kind}"} for name in wrong],
    )


async def update_entry(
    app: web.Application, entry: KnowledgeEntry, body: KnowledgeUpdate
) -> KnowledgeEntry:
    """The entry with the fields `body` sends changed and its passages split again.

    Raises 409 `entry_kind_mismatch` for fields of the other kind of entry, 404
    `entry_not_found` when it was deleted meanwhile.
    """
    changes = body.changes()
    if wrong := sorted(set(changes) - _own_fields(entry)):
        raise _kind_mismatch(entry, wrong)
    merged = {
        "question": entry.question,
        "answer": entry.answer,
        "title": entry.title,
        "content": entry.content,
        **changes,
    }
    passages = entry_passages(entry.kind, **merged)
    engine = app[keys.ENGINE]
    updated = await repo.update_entry(engine, entry.chatbot_id, entry.id, changes, passages)
    if updated is None:
        raise entry_not_found(entry.id)
    await knowledge_changed(app, entry.chatbot_id)
    return updated


async def delete_entry(app: web.Application, chatbot_id: str, entry_id: str) -> None:
    """Delete the chatbot's entry; raises 404 `entry_not_found` when it has none by that id."""
    if not await repo.delete_entry(app[keys.ENGINE], chatbot_id, entry_id):
        raise entry_not_found(entry_id)
    await knowledge_changed(app, chatbot_id)
