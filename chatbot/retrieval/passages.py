"""Passages: the searchable pieces a chatbot's knowledge entries are cut into."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chatbot.retrieval.splitting import split_markdown

if TYPE_CHECKING:
    from chatbot.retrieval.embedder import TextEmbedding


@dataclass(frozen=True, slots=True)
class Passage:
    """One searchable piece of knowledge: what is matched against questions, and what is said."""

    id: str
    entry_id: str
    match_text: str
    reply_text: str
    title: str = ""
    # Its stored embedding (`TextEmbedding.from_bytes`), if any: the index build then skips it.
    embedding: TextEmbedding | None = field(default=None, compare=False, repr=False)


def qa_passage(entry_id: str, question: str, answer: str) -> Passage:
    """The passage of a question/answer entry: matched on both, answering with the answer."""
    question, answer = question.strip(), answer.strip()
    return Passage(
        id=f"{entry_id}#0",
        entry_id=entry_id,
        match_text=f"{question}\n{answer}",
        reply_text=answer,
        title=question,
    )


def document_passages(entry_id: str, title: str, content: str) -> list[Passage]:
    """The passages of a titled document entry, one per section or run of paragraphs."""
    passages = []
    for number, part in enumerate(split_markdown(content, title=title.strip())):
        # The section title is part of what is matched: it often names the topic best.
        match_text = f"{part.title}\n{part.text}" if part.title else part.text
        passages.append(
            Passage(
                id=f"{entry_id}#{number}",
                entry_id=entry_id,
                match_text=match_text,
                reply_text=part.text,
                title=part.title,
            )
        )
    return passages


def passages_from_entries(entries: Iterable[Mapping[str, Any]]) -> list[Passage]:
    """Passages of entries shaped `{"id", "question", "answer"}` or `{"id", "title", "content"}`."""
    passages: list[Passage] = []
    for entry in entries:
        entry_id = str(entry["id"])
        if entry.get("question") is not None:
            passages.append(qa_passage(entry_id, str(entry["question"]), str(entry["answer"])))
        else:
            passages.extend(
                document_passages(entry_id, str(entry.get("title") or ""), str(entry["content"]))
            )
    return passages
