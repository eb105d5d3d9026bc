"""Knowledge file uploads: multipart files read with a size limit, parsed in a worker process.

Each part with a filename is a file (plain text, Markdown, HTML or PDF), whatever its field's
name; a part named `file` without one is plain text typed into a form field. Each becomes one
document entry. Any other form field is refused, so that a misspelt name is not ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.hdrs import CONTENT_TYPE
from aiohttp.http_exceptions import HttpProcessingError

from chatbot import keys
from chatbot.errors import BadRequest, PayloadTooLarge, ValidationFailed
from chatbot.fields.types import text_pattern, text_problem
from chatbot.knowledge.drafts import uploaded_document
from chatbot.knowledge.parse_pool import ParsePool, ParseTooSlow
from chatbot.knowledge.parsing import (
    SUPPORTED_FORMATS,
    DocumentTooLong,
    UnsupportedDocument,
    parse_document,
)
from chatbot.knowledge.repository import EntryDraft
from chatbot.knowledge.schemas import MAX_CONTENT_LENGTH
from chatbot.retrieval.splitting import split_text

MAX_FILES = 20
FILE_FIELD = "file"
# Text parts are cut into passages joined by blank lines, which adds up to 3 characters per
# 1,200: with this limit a text always fits in one document.
MAX_TEXT_LENGTH = MAX_CONTENT_LENGTH * 4 // 5
_CHUNK_BYTES = 64 * 1024

# The documented body. What makes a file readable (a PDF that holds text...) is beyond what a
# schema can state, so the schema shows a text part, whose rules it states exactly, and the
# description tells about files and about repeating the field.
MULTIPART_BODY: dict[str, Any] = {
    "required": True,
    "description": (
        f"One to {MAX_FILES} documents, all read before anything is stored. A part named "
        f"`{FILE_FIELD}` without a filename is plain text: one document. A part with a "
        f"filename is a file, under any field name: {SUPPORTED_FORMATS}, told by its "
        f"Content-Type or name. Repeat the parts for several documents."
    ),
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    FILE_FIELD: {
                        "type": "string",
                        "contentMediaType": "text/plain",
                        "minLength": 1,
                        "maxLength": MAX_TEXT_LENGTH,
                        "pattern": text_pattern(),
                    }
                },
                "required": [FILE_FIELD],
                "additionalProperties": False,
            }
        }
    },
}


@dataclass(frozen=True, slots=True)
class UploadedFile:
    filename: str
    content_type: str
    data: bytes
    typed: bool = False  # text sent in a form field, not a file


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


async def _read_part(part: BodyPartReader, budget: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(_CHUNK_BYTES):
        size += len(chunk)
        if size > budget:
            raise PayloadTooLarge(
                f"the upload is larger than {_mib(budget)} (the max_upload_bytes setting): "
                "upload fewer or smaller files"
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def read_files(request: web.Request) -> list[UploadedFile]:
    """The files of a multipart/form-data body (any field name), within the size limit."""
    if request.content_type != "multipart/form-data":
        raise BadRequest(
            "send the files as multipart/form-data, each in a field named 'file'",
            code="multipart_expected",
        )
    limit = request.app[keys.SETTINGS].max_upload_bytes
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise PayloadTooLarge(
            f"the upload is larger than {_mib(limit)} (the max_upload_bytes setting): "
            "upload fewer or smaller files"
        )
    try:
        reader = await request.multipart()
        files: list[UploadedFile] = []
        budget = limit
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                await part.release()
                continue  # a nested multipart body is not a file
            typed = not part.filename
            if typed and part.name != FILE_FIELD:
                raise ValidationFailed(
                    f"the upload has a form field named {part.name!r}: send text in fields "
                    f"named {FILE_FIELD!r}, and files (with a filename) in any field",
                    code="unexpected_field",
                    fields=[{"field": part.name or "", "message": "unknown field"}],
                )
            if len(files) == MAX_FILES:
                raise ValidationFailed(
                    f"at most {MAX_FILES} files per upload: upload the rest in another request",
                    code="too_many_files",
                )
            data = await _read_part(part, budget)
            budget -= len(data)
            content_type = part.headers.get(CONTENT_TYPE, "")
            files.append(UploadedFile(part.filename or "", content_type, data, typed=typed))
    except (ValueError, AssertionError, HttpProcessingError) as exc:
        # aiohttp's multipart reader signals a malformed body (or part header) this way.
        message = getattr(exc, "message", None) or str(exc)
        raise BadRequest(
            f"the multipart body is malformed ({message.strip()})", code="invalid_multipart"
        ) from None
    if not files:
        raise ValidationFailed(
            "the upload holds no file: send at least one file (or text) in a field named 'file'",
            code="no_file",
            fields=[{"field": "file", "message": "required"}],
        )
    return files


def typed_text(upload: UploadedFile) -> str:
    """The text of a form field, held to the rules the OpenAPI document states for it."""
    try:
        text = upload.data.decode("utf-8")
    except UnicodeDecodeError:
        raise UnsupportedDocument("the text is not UTF-8: send it as UTF-8") from None
    if problem := text_problem(text):
        raise UnsupportedDocument(f"the text {problem}")
    if len(text) > MAX_TEXT_LENGTH:
        raise DocumentTooLong(
            f"the text holds {len(text):,} characters; a text field may hold "
            f"{MAX_TEXT_LENGTH:,}: split it, or upload it as a file"
        )
    return text


def upload_draft(upload: UploadedFile) -> EntryDraft:
    """The document entry of one upload (blocking: the parse pool runs it in a worker)."""
    if upload.typed:
        passages = split_text(typed_text(upload))
    else:
        passages = parse_document(
            upload.data,
            filename=upload.filename,
            content_type=upload.content_type,
            max_text_chars=MAX_CONTENT_LENGTH,
        )
    return uploaded_document(upload.filename, passages)


async def _parse(pool: ParsePool, upload: UploadedFile) -> EntryDraft:
    try:
        return await pool.run(upload_draft, upload)
    except UnsupportedDocument as exc:
        raise ValidationFailed(
            f"{upload.filename or 'text field'}: {exc}",
            code="unsupported_file",
            fields=[{"field": "file", "message": str(exc)}],
            supported=SUPPORTED_FORMATS,
        ) from None
    except DocumentTooLong as exc:
        raise ValidationFailed(str(exc), code="document_too_long") from None
    except ParseTooSlow as exc:
        raise ValidationFailed(
            f"{upload.filename or 'text field'}: {exc} (the upload_parse_cpu_seconds setting): "
            "split it into smaller files, or upload its text",
            code="document_too_complex",
        ) from None


async def parse_files(pool: ParsePool, files: list[UploadedFile]) -> list[EntryDraft]:
    """One document entry per file; every file is parsed before anything is stored."""
    return [await _parse(pool, upload) for upload in files]
