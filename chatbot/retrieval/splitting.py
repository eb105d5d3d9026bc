"""Text cut into passages: plain text at blank lines, Markdown at its headings; pure.

Knowledge entries (as stored) and uploaded files (as parsed) are cut the same way, into
passages of at most `MAX_PASSAGE_CHARS`, long paragraphs cut at sentence ends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_PASSAGE_CHARS = 1200


@dataclass(frozen=True, slots=True)
class ParsedPassage:
    """A piece of a document, with the heading it sits under."""

    title: str
    text: str


def split_text(
    text: str, *, title: str = "", max_chars: int = MAX_PASSAGE_CHARS
) -> list[ParsedPassage]:
    """Plain text cut at blank lines into passages of at most `max_chars`."""
    return [ParsedPassage(title, chunk) for chunk in _pack(_paragraphs(text), max_chars)]


def split_markdown(
    text: str, *, title: str = "", max_chars: int = MAX_PASSAGE_CHARS
) -> list[ParsedPassage]:
    """Markdown cut at its headings, each section packed into passages titled by its heading."""
    sections: list[tuple[str, list[str]]] = [(title, [])]
    in_fence = False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        heading = None if in_fence else re.match(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            sections.append((_strip_inline_markdown(heading.group(1)), []))
        else:
            sections[-1][1].append(line if in_fence else _strip_inline_markdown(line))
    return sections_to_passages(sections, max_chars)


def sections_to_passages(
    sections: list[tuple[str, list[str]]], max_chars: int
) -> list[ParsedPassage]:
    """Each (title, lines) section's paragraphs packed into passages under its title."""
    passages = []
    for title, lines in sections:
        chunks = _pack(_paragraphs("\n".join(lines)), max_chars)
        passages += [ParsedPassage(title, chunk) for chunk in chunks]
    return passages


def _paragraphs(text: str) -> list[str]:
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    return [" ".join(block.split()) for block in blocks if block.strip()]


def _pack(paragraphs: list[str], max_chars: int) -> list[str]:
    """Paragraphs joined into chunks of at most `max_chars`, long ones cut at sentence ends."""
    chunks: list[str] = []
    current = ""
    for piece in (part for paragraph in paragraphs for part in _cut(paragraph, max_chars)):
        if current and len(current) + 2 + len(piece) > max_chars:
            chunks.append(current)
            current = ""
        current = f"{current}\n\n{piece}" if current else piece
    if current:
        chunks.append(current)
    return chunks


def _cut(paragraph: str, max_chars: int) -> list[str]:
    if len(paragraph) <= max_chars:
        return [paragraph]
    pieces: list[str] = []
    current = ""
    for sentence in re.split(r"(?<=[.!?])\s+", paragraph):
        while len(sentence) > max_chars:
            # A "sentence" longer than a passage (a list, a table row): cut at a space.
            cut = sentence.rfind(" ", 0, max_chars)
            cut = cut if cut > 0 else max_chars
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:cut])
            sentence = sentence[cut:].lstrip()
        if current and len(current) + 1 + len(sentence) > max_chars:
            pieces.append(current)
            current = ""
        current = f"{current} {sentence}" if current else sentence
    if current:
        pieces.append(current)
    return pieces


def _strip_inline_markdown(line: str) -> str:
    line = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", line)  # images keep their alt text
    line = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", line)  # links keep their text
    line = re.sub(r"(\*\*|__)(.+?)\1", r"\2", line)
    line = re.sub(r"^\s{0,3}>\s?", "", line)
    return re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", line)
