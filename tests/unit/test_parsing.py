"""Uploaded files split into titled passages: text, Markdown, HTML, PDF, and what is refused."""

from __future__ import annotations

import pytest

from chatbot.knowledge.parsing import UnsupportedDocument, detect_kind, parse_document
from chatbot.retrieval.passages import document_passages, passages_from_entries
from chatbot.retrieval.splitting import ParsedPassage, split_markdown, split_text


def make_pdf(pages: list[list[str]]) -> bytes:
    """A small valid PDF whose pages show the given lines (Helvetica, one text object a page)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    kids = []
    font_number = 3 + 2 * len(pages)
    for number, lines in enumerate(pages):
        page_number, content_number = 3 + 2 * number, 4 + 2 * number
        kids.append(f"{page_number} 0 R")
        text = " ".join(f"({line}) Tj 0 -16 Td" for line in lines)
        stream = f"BT /F1 12 Tf 72 720 Td {text} ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_number} 0 R "
            f"/Resources << /Font << /F1 {font_number} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>".encode()
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_plain_text_is_cut_at_blank_lines_and_packed() -> None:
    text = "First paragraph\nwraps here.\n\nSecond one.\r\n\r\nThird."
    passages = parse_document(text.encode(), filename="faq.txt")
    assert passages == [
        ParsedPassage("faq", "First paragraph wraps here.\n\nSecond one.\n\nThird.")
    ]


def test_long_text_is_split_into_passages_of_bounded_size() -> None:
    sentence = "This sentence talks about installing the server on a machine. "
    passages = split_text(sentence * 100, title="Guide", max_chars=300)
    assert len(passages) > 10
    assert all(len(passage.text) <= 300 for passage in passages)
    assert all(passage.title == "Guide" for passage in passages)
    # Nothing is lost on the way: the words all come back, in order.
    joined = " ".join(passage.text for passage in passages)
    assert joined.split() == (sentence * 100).split()


def test_a_word_longer_than_a_passage_is_cut() -> None:
    passages = split_text("x" * 2500, max_chars=1000)
    assert [len(passage.text) for passage in passages] == [1000, 1000, 500]


def test_markdown_is_split_by_headings_with_markup_removed() -> None:
    markdown = """Intro line before any heading.

# Installing

Run **pip install .** then see [the docs](https://example.com/docs).

## With Docker ##

- build the image
- run it

```
# not a heading inside code
```
"""
    passages = parse_document(markdown.encode(), filename="guide.md")
    assert [passage.title for passage in passages] == ["guide", "Installing", "With Docker"]
    assert passages[1].text == "Run pip install . then see the docs."
    assert "build the image run it" in passages[2].text
    assert "# not a heading inside code" in passages[2].text


def test_html_keeps_visible_text_by_section() -> None:
    html = """<!doctype html><html><head><title>Help  Center</title>
    <style>body { color: red }</style><script>var secret = 1;</script></head>
    <body><p>Welcome to <b>our</b> help&nbsp;pages.</p>
    <h2>Pricing</h2><p>It is free.</p><ul><li>No fees</li><li>No limits</li></ul>
    <h2>Security</h2><div>Use HTTPS.</div></body></html>"""
    passages = parse_document(html.encode(), content_type="text/html; charset=utf-8")
    assert passages[0] == ParsedPassage("Help Center", "Welcome to our help pages.")
    assert passages[1].title == "Pricing"
    assert passages[1].text.split("\n\n") == ["It is free.", "No fees", "No limits"]
    assert passages[2] == ParsedPassage("Security", "Use HTTPS.")
    assert not any("secret" in passage.text or "color" in passage.text for passage in passages)


def test_pdf_text_is_extracted_page_by_page() -> None:
    pdf = make_pdf([["Chatbot manual", "Install with pip."], ["Operators can take over."]])
    passages = parse_document(pdf, filename="manual.pdf", content_type="application/pdf")
    assert [passage.title for passage in passages] == ["manual, page 1", "manual, page 2"]
    assert "Install with pip." in passages[0].text
    assert "Operators can take over." in passages[1].text


def test_pdf_is_recognised_by_its_bytes_when_unnamed() -> None:
    pdf = make_pdf([["Hello PDF"]])
    assert detect_kind(pdf, "", "application/octet-stream") == "pdf"
    assert "Hello PDF" in parse_document(pdf)[0].text


@pytest.mark.parametrize(
    ("data", "filename", "content_type", "message"),
    [
        (b"\x89PNG\r\n\x1a\n", "logo.png", "image/png", "image/png are not supported"),
        (b"data", "archive.zip", "", "cannot tell what kind of file"),
        (b"caf\xe9 au lait", "menu.txt", "text/plain", "not UTF-8"),
        (b"bin\x00ary", "x.txt", "", "looks binary"),
        (b"%PDF-1.4\nthis is not really a pdf", "broken.pdf", "", "PDF"),
        (b"   \n\n  ", "empty.md", "", "no text"),
        (make_pdf([[]]), "scan.pdf", "", "no text"),
    ],
)
def test_unreadable_files_are_refused_with_a_reason(
    data: bytes, filename: str, content_type: str, message: str
) -> None:
    with pytest.raises(UnsupportedDocument, match=message):
        parse_document(data, filename=filename, content_type=content_type)


def test_utf16_with_byte_order_mark_is_read() -> None:
    data = "Grüße aus Köln".encode("utf-16")
    assert parse_document(data, filename="hello.txt")[0].text == "Grüße aus Köln"


def test_markdown_without_headings_uses_the_given_title() -> None:
    assert split_markdown("Just text.", title="Notes") == [ParsedPassage("Notes", "Just text.")]


def test_entries_become_passages() -> None:
    entries = [
        {"id": "e1", "question": " How much? ", "answer": " Free. "},
        {"id": "e2", "title": "Guide", "content": "# Install\nUse pip.\n# Run\nchatbot serve"},
    ]
    passages = passages_from_entries(entries)
    assert [(p.id, p.entry_id, p.title) for p in passages] == [
        ("e1#0", "e1", "How much?"),
        ("e2#0", "e2", "Install"),
        ("e2#1", "e2", "Run"),
    ]
    assert passages[0].match_text == "How much?\nFree."
    assert passages[0].reply_text == "Free."
    assert passages[2].match_text == "Run\nchatbot serve"
    assert document_passages("d", "T", "") == []
