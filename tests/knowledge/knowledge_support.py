"""Helpers for the knowledge tests: accounts and chatbots made through the API, tiny PDFs."""

from __future__ import annotations

import uuid
import zlib
from dataclasses import dataclass
from typing import Any

from conftest import AppClient

PASSWORD = "correct horse battery staple"

FAQ = [
    ("How do I reset my password?", "Open Settings, choose Security and press Reset password."),
    ("What are your opening hours?", "We are open Monday to Friday from 9 to 17."),
    ("Do you ship to Canada?", "Yes, we ship to Canada; delivery takes 5 to 8 working days."),
]


@dataclass(frozen=True)
class Owner:
    """An account with one chatbot of its own."""

    headers: dict[str, str]
    chatbot: dict[str, Any]

    @property
    def knowledge(self) -> str:
        return f"/api/chatbots/{self.chatbot['id']}/knowledge/"


async def owner_with_chatbot(client: AppClient, **chatbot: Any) -> Owner:
    """Register through the API and create a chatbot."""
    email = f"user-{uuid.uuid4().hex[:10]}@example.com"
    response = await client.post("/auth/register/", json={"email": email, "password": PASSWORD})
    session = await response.json()
    assert response.status == 201, session
    headers = {"Authorization": f"Bearer {session['access']}"}
    response = await client.post(
        "/api/chatbots/", json={"name": "Shop help", **chatbot}, headers=headers
    )
    body = await response.json()
    assert response.status == 201, body
    return Owner(headers=headers, chatbot=body)


async def add_entry(client: AppClient, owner: Owner, **fields: str) -> dict[str, Any]:
    response = await client.post(owner.knowledge, json=fields, headers=owner.headers)
    body: dict[str, Any] = await response.json()
    assert response.status == 201, body
    return body


async def add_faq(client: AppClient, owner: Owner) -> list[dict[str, Any]]:
    return [await add_entry(client, owner, question=q, answer=a) for q, a in FAQ]


async def error_of(response: Any, status: int) -> dict[str, Any]:
    """The contract's error object of a response that must have `status`."""
    body = await response.json()
    assert response.status == status, body
    assert set(body["error"]) >= {"code", "message"}
    error: dict[str, Any] = body["error"]
    return error


FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def _page(contents: int, font: int) -> bytes:
    return (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
        b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (contents, font)
    )


def _stream(content: bytes, *, compressed: bool = False) -> bytes:
    if compressed:
        content = zlib.compress(content, 9)
    flate = b" /Filter /FlateDecode" if compressed else b""
    return b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(content), flate, content)


def _pdf(page_ids: list[int], objects: dict[int, bytes]) -> bytes:
    """A PDF file of these objects, 1 and 2 being the catalog and the tree of these pages."""
    objects[1] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[2] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % page for page in page_ids),
        len(page_ids),
    )
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, objects[number])
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for number in sorted(objects):
        out += b"%010d 00000 n \n" % offsets[number]
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def tiny_pdf(*pages: str) -> bytes:
    """A valid PDF with one line of Helvetica text per page."""
    page_ids = [3 + 2 * index for index in range(len(pages))]
    font_id = 3 + 2 * len(pages)
    objects: dict[int, bytes] = {font_id: FONT}
    for page_id, text in zip(page_ids, pages, strict=True):
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        content = b"BT /F1 12 Tf 72 720 Td (" + escaped.encode("latin-1") + b") Tj ET"
        objects[page_id] = _page(page_id + 1, font_id)
        objects[page_id + 1] = _stream(content)
    return _pdf(page_ids, objects)


def pdf_bomb(text: str = " ", pages: int = 200, lines: int = 4000) -> bytes:
    """A small PDF whose pages all share one compressed content stream of `lines` text lines.

    With the default blank text it is ~32 KB and costs over 20 s of CPU to read, while its text
    stays short of the length limit for over 100 pages (reported in issue 18).
    """
    font_id, stream_id = 3 + pages, 4 + pages
    line = b"BT /F1 12 Tf 72 720 Td (" + text.encode("latin-1") + b") Tj ET\n"
    objects = {font_id: FONT, stream_id: _stream(line * lines, compressed=True)}
    page_ids = [3 + index for index in range(pages)]
    for page_id in page_ids:
        objects[page_id] = _page(stream_id, font_id)
    return _pdf(page_ids, objects)
