"""Knowledge entries turned into the passages the knowledge brain searches (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath

from chatbot.knowledge.parsing import DocumentTooLong
from chatbot.knowledge.repository import EntryDraft, PassageDraft, StoredPassage
from chatbot.knowledge.schemas import MAX_CONTENT_LENGTH, MAX_TITLE_LENGTH
from chatbot.retrieval.passages import Passage, document_passages, qa_passage
from chatbot.retrieval.splitting import ParsedPassage


def pair_passages(question: str, answer: str) -> list[PassageDraft]:
    """The one passage of a question/answer pair."""
    passage = qa_passage("", question, answer)
    return [PassageDraft(text=passage.match_text, reply=passage.reply_text)]


def document_passage_drafts(title: str, content: str) -> list[PassageDraft]:
    """The passages of a document: one per section or run of paragraphs."""
    return [
        PassageDraft(text=passage.match_text, reply=passage.reply_text)
        for passage in document_passages("", title, content)
    ]


def entry_passages(
    kind: str,
    *,
    question: str | None = None,
    answer: str | None = None,
    title: str | None = None,
    content: str | None = None,
) -> list[PassageDraft]:
    """The passages of an entry of either kind."""
    if kind == "qa":
        return pair_passages(question or "", answer or "")
    return document_passage_drafts(title or "", content or "")


def pair_draft(question: str, answer: str, *, source: str | None = None) -> EntryDraft:
    return EntryDraft(
        kind="qa",
        question=question,
        answer=answer,
        source=source,
        passages=pair_passages(question, answer),
    )


def document_draft(title: str, content: str, *, source: str | None = None) -> EntryDraft:
    return EntryDraft(
        kind="document",
        title=title,
        content=content,
        source=source,
        passages=document_passage_drafts(title, content),
    )


def uploaded_document(filename: str, parsed: Sequence[ParsedPassage]) -> EntryDraft:
    """One document entry for an uploaded file; its sections kept as Markdown headings.

    Written as Markdown, the content splits into the same passages again when the entry is
    edited later, so uploaded and typed documents follow one path.
    """
    name = PurePath(filename).name or "upload"
    title = " ".join(PurePath(name).stem.replace("_", " ").replace("-", " ").split()) or name
    blocks: list[str] = []
    current = title
    for passage in parsed:
        if passage.title and passage.title != current:
            blocks.append(f"## {passage.title}")
            current = passage.title
        blocks.append(passage.text)
    content = "\n\n".join(blocks)
    if len(content) > MAX_CONTENT_LENGTH:
        raise DocumentTooLong(
            f"{name} holds {len(content):,} characters of text; one document may hold "
            f"{MAX_CONTENT_LENGTH:,}: split the file and upload the parts"
        )
    return document_draft(title[:MAX_TITLE_LENGTH], content, source=name[:255])


def searchable(stored: StoredPassage) -> Passage:
    """A stored passage as the retrieval index takes it."""
    # The match text of both kinds is "title\nreply": the title is recovered from it.
    suffix = "\n" + stored.reply
    title = stored.text[: -len(suffix)] if stored.text.endswith(suffix) else ""
    return Passage(
        id=stored.id,
        entry_id=stored.entry_id,
        match_text=stored.text,
        reply_text=stored.reply,
        title=title,
    )
