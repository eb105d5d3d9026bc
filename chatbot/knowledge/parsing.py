"""Uploaded files (plain text, Markdown, HTML, PDF) split into titled passages; pure and blocking.

PDF parsing can take a while on big files: the server calls `parse_document` in a worker
process held to a CPU-time budget (`chatbot.knowledge.parse_pool`).
"""

from __future__ import annotations

import codecs
import io
import re
from html.parser import HTMLParser
from pathlib import PurePath
from typing import TYPE_CHECKING, Literal

from chatbot.retrieval.splitting import (
    MAX_PASSAGE_CHARS,
    ParsedPassage,
    sections_to_passages,
    split_markdown,
    split_text,
)

if TYPE_CHECKING:
    from pypdf import PdfReader

DocumentKind = Literal["text", "markdown", "html", "pdf"]

# Past this many pages a PDF is refused before any page is read.
MAX_PDF_PAGES = 2000

_CONTENT_TYPES: dict[str, DocumentKind] = {
    "text/plain": "text",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
}
_EXTENSIONS: dict[str, DocumentKind] = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".pdf": "pdf",
}
SUPPORTED_FORMATS = "plain text (.txt), Markdown (.md), HTML (.html) or PDF (.pdf)"


class UnsupportedDocument(ValueError):
    """The file is of a kind we cannot read, or its bytes do not decode; the message says why."""


class DocumentTooLong(ValueError):
    """An uploaded file holds more text than one document entry may."""


def detect_kind(data: bytes, filename: str = "", content_type: str = "") -> DocumentKind:
    """The document's kind from its content type, then its file name, then its first bytes."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in _CONTENT_TYPES:
        return _CONTENT_TYPES[media_type]
    suffix = PurePath(filename).suffix.lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    if data.startswith(b"%PDF-"):
        return "pdf"
    # Browsers send octet-stream for unknown extensions; anything else named is a real mismatch.
    if media_type and media_type != "application/octet-stream":
        raise UnsupportedDocument(
            f"files of type {media_type} are not supported: upload {SUPPORTED_FORMATS}"
        )
    raise UnsupportedDocument(f"cannot tell what kind of file this is: upload {SUPPORTED_FORMATS}")


def parse_document(
    data: bytes,
    *,
    filename: str = "",
    content_type: str = "",
    max_chars: int = MAX_PASSAGE_CHARS,
    max_text_chars: int | None = None,
) -> list[ParsedPassage]:
    """Split an uploaded file into passages; raises UnsupportedDocument when it cannot be read.

    A PDF stops being read (DocumentTooLong) once its text passes `max_text_chars`.
    """
    kind = detect_kind(data, filename, content_type)
    title = _title_from_filename(filename)
    if kind == "pdf":
        passages = split_pdf(data, title=title, max_chars=max_chars, max_text_chars=max_text_chars)
    elif kind == "html":
        passages = split_html(decode_text(data), title=title, max_chars=max_chars)
    elif kind == "markdown":
        passages = split_markdown(decode_text(data), title=title, max_chars=max_chars)
    else:
        passages = split_text(decode_text(data), title=title, max_chars=max_chars)
    if not passages:
        raise UnsupportedDocument("the file contains no text")
    return passages


def decode_text(data: bytes) -> str:
    """UTF-8 (or UTF-16 with a byte order mark) text; anything else is refused, never guessed."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise UnsupportedDocument(
            "the file is not UTF-8 text: save it as UTF-8 and upload it again"
        ) from None
    if "\x00" in text:
        raise UnsupportedDocument("the file looks binary, not text")
    return text


def split_html(
    text: str, *, title: str = "", max_chars: int = MAX_PASSAGE_CHARS
) -> list[ParsedPassage]:
    """HTML reduced to its visible text, cut at its headings like Markdown."""
    parser = _HtmlSections(title)
    parser.feed(text)
    parser.close()
    return sections_to_passages(parser.sections(), max_chars)


def split_pdf(
    data: bytes,
    *,
    title: str = "",
    max_chars: int = MAX_PASSAGE_CHARS,
    max_text_chars: int | None = None,
) -> list[ParsedPassage]:
    """A PDF's text, page by page, each page's passages titled with its page number."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnsupportedDocument("the PDF is password protected: upload an unprotected copy")
        pages = _pdf_pages_text(reader, max_text_chars)
    except (UnsupportedDocument, DocumentTooLong):
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        # pypdf raises a variety of errors on damaged files; all mean the same to the uploader.
        raise UnsupportedDocument(f"the PDF cannot be read ({exc.__class__.__name__})") from None
    passages = []
    for number, page in enumerate(pages, start=1):
        page_title = f"{title}, page {number}" if title else f"Page {number}"
        passages += split_text(page, title=page_title, max_chars=max_chars)
    if not passages:
        raise UnsupportedDocument("the PDF has no text to extract (is it a scan?)")
    return passages


def _pdf_pages_text(reader: PdfReader, max_text_chars: int | None) -> list[str]:
    # Checked page by page: pages can share one content stream, so that a small file holds
    # millions of characters, and reading them all first cost minutes of CPU.
    if len(reader.pages) > MAX_PDF_PAGES:
        raise DocumentTooLong(
            f"the PDF has {len(reader.pages):,} pages; at most {MAX_PDF_PAGES:,} are read: "
            "split it and upload the parts"
        )
    pages: list[str] = []
    total = 0
    for number, page in enumerate(reader.pages, start=1):
        pages.append(page.extract_text() or "")
        total += len(pages[-1])
        if max_text_chars is not None and total > max_text_chars:
            raise DocumentTooLong(
                f"the PDF holds more than {max_text_chars:,} characters of text by page "
                f"{number}; one document may hold {max_text_chars:,}: split the file and upload "
                "the parts"
            )
    return pages


class _HtmlSections(HTMLParser):
    """Collects visible text per heading; scripts, styles and the head are skipped."""

    _SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})
    _HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
    _BLOCKS = frozenset(
        {
            "p",
            "div",
            "li",
            "br",
            "tr",
            "section",
            "article",
            "blockquote",
            "pre",
            "dd",
            "dt",
            "table",
        }
    )

    def __init__(self, title: str) -> None:
        super().__init__(convert_charrefs=True)
        self._sections: list[tuple[str, list[str]]] = [(title, [])]
        self._skipping = 0
        self._heading: list[str] | None = None
        self._in_title = False
        self._page_title = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self._SKIP:
            self._skipping += 1
        elif tag in self._HEADINGS:
            self._heading = []
        elif tag in self._BLOCKS:
            self._sections[-1][1].append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._HEADINGS and self._heading is not None:
            self._sections.append((" ".join("".join(self._heading).split()), []))
            self._heading = None
        elif tag in self._BLOCKS:
            self._sections[-1][1].append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._page_title += data
            return
        if self._skipping:
            return
        data = re.sub(r"\s+", " ", data)
        if self._heading is not None:
            self._heading.append(data)
        else:
            # Source line breaks are not paragraph breaks in HTML: only block tags are.
            self._sections[-1][1].append(data)

    def sections(self) -> list[tuple[str, list[str]]]:
        first_title, first_body = self._sections[0]
        if not first_title and self._page_title.strip():
            self._sections[0] = (" ".join(self._page_title.split()), first_body)
        # Inline text was collected piecewise: join it, then let blank lines mark paragraphs.
        return [(title, ["".join(body)]) for title, body in self._sections]


def _title_from_filename(filename: str) -> str:
    stem = PurePath(filename).stem if filename else ""
    return " ".join(stem.replace("_", " ").replace("-", " ").split())
