"""Knowledge pages: list, add, edit and delete entries, upload files, ask a test question."""

from __future__ import annotations

from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.hdrs import CONTENT_TYPE
from aiohttp.http_exceptions import HttpProcessingError

from chatbot import keys
from chatbot.chatbots.repository import ChatbotRecord
from chatbot.dashboard.chatbot_views import owned_chatbot
from chatbot.dashboard.csrf import CSRF_FIELD, MAX_TOKEN_LENGTH
from chatbot.dashboard.forms import FormErrors, validate_form
from chatbot.dashboard.pages import (
    PageError,
    field,
    not_found,
    page,
    redirect,
    render,
    require_csrf,
)
from chatbot.dashboard.session import SESSION, flash
from chatbot.errors import ApiError
from chatbot.knowledge import actions
from chatbot.knowledge import repository as repo
from chatbot.knowledge.parsing import SUPPORTED_FORMATS
from chatbot.knowledge.schemas import KnowledgeCreate, KnowledgeUpdate
from chatbot.knowledge.uploads import MAX_FILES, UploadedFile
from chatbot.workspaces.roles import Action

ENTRY_FIELDS = {"qa": ("question", "answer"), "document": ("title", "content")}
_CHUNK_BYTES = 64 * 1024


def _size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.3g} MiB"
    return f"{size / 1024:.3g} KiB"


def _base(chatbot: ChatbotRecord) -> str:
    return f"/dashboard/chatbots/{chatbot.id}/knowledge/"


async def _page(
    request: web.Request,
    chatbot: ChatbotRecord,
    *,
    kind: str = "qa",
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    entries = await repo.list_entries(request.app[keys.ENGINE], chatbot.id)
    context: dict[str, Any] = {
        "chatbot": chatbot,
        "entries": entries,
        "kind": kind,
        "values": values or {},
        "errors": errors or {},
        "max_files": MAX_FILES,
        "max_upload": _size(request.app[keys.SETTINGS].max_upload_bytes),
        "formats": SUPPORTED_FORMATS,
    }
    return render(request, "knowledge.html", context, status=status)


@page()
async def knowledge_list(request: web.Request) -> web.StreamResponse:
    return await _page(request, await owned_chatbot(request))


@page()
async def knowledge_add(request: web.Request) -> web.StreamResponse:
    chatbot = await owned_chatbot(request, Action.MANAGE)
    kind = "document" if field(request, "kind") == "document" else "qa"
    values = {name: field(request, name) for name in ENTRY_FIELDS[kind]}
    try:
        body = validate_form(KnowledgeCreate, values, ENTRY_FIELDS[kind])
    except FormErrors as exc:
        return await _page(
            request, chatbot, kind=kind, values=values, errors=exc.errors, status=422
        )
    await actions.add_entry(request.app, chatbot.id, body)
    flash(request[SESSION], "success", "Entry added: the bot uses it from now on.")
    return redirect(_base(chatbot))


async def _read_part(part: BodyPartReader, budget: int, what: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(_CHUNK_BYTES):
        size += len(chunk)
        if size > budget:
            raise PageError(413, "Too large", what)
        chunks.append(chunk)
    return b"".join(chunks)


async def _uploaded_files(request: web.Request) -> list[UploadedFile]:
    """The files of the upload form, after its CSRF token (the form's first field)."""
    if request.content_type != "multipart/form-data":
        raise PageError(400, "Not an upload", "Send the files with the upload form.")
    limit = request.app[keys.SETTINGS].max_upload_bytes
    too_large = (
        f"The upload is larger than {_size(limit)} (the max_upload_bytes setting), so nothing "
        "was added. Upload fewer or smaller files."
    )
    if request.content_length is not None and request.content_length > limit + _CHUNK_BYTES:
        raise PageError(413, "The upload is too large", too_large)
    try:
        reader = await request.multipart()
        part = await reader.next()
        token = b""
        if isinstance(part, BodyPartReader) and part.name == CSRF_FIELD:
            try:
                token = await _read_part(part, MAX_TOKEN_LENGTH, "")
            except PageError:
                token = b""  # no token is that long: refused below
        require_csrf(request, token.decode("utf-8", "replace"))
        files: list[UploadedFile] = []
        budget = limit
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or not part.filename:
                await part.release()
                continue
            if len(files) == MAX_FILES:
                raise FormErrors({"file": f"Upload at most {MAX_FILES} files at once."})
            data = await _read_part(part, budget, too_large)
            budget -= len(data)
            files.append(UploadedFile(part.filename, part.headers.get(CONTENT_TYPE, ""), data))
    except PageError as exc:
        if exc.status == 413:
            raise PageError(413, "The upload is too large", too_large) from None
        raise
    except (ValueError, AssertionError, HttpProcessingError):  # aiohttp's multipart reader:
        raise PageError(400, "The upload could not be read", "Nothing was added.") from None
    if not files:
        raise FormErrors({"file": "Choose at least one file to upload."})
    return files


@page(own_body=True)
async def knowledge_upload(request: web.Request) -> web.StreamResponse:
    chatbot = await owned_chatbot(request, Action.MANAGE)
    try:
        entries = await actions.add_files(request.app, chatbot.id, await _uploaded_files(request))
    except FormErrors as exc:
        return await _page(request, chatbot, errors=exc.errors, status=422)
    except ApiError as exc:  # a file of an unsupported kind, or too long: nothing is stored
        return await _page(request, chatbot, errors={"file": exc.message}, status=exc.status)
    names = ", ".join(entry.source or entry.title or "" for entry in entries)
    flash(request[SESSION], "success", f"Added {len(entries)} document(s): {names}.")
    return redirect(_base(chatbot))


async def _entry(request: web.Request, chatbot: ChatbotRecord) -> repo.KnowledgeEntry:
    entry = await repo.get_entry(
        request.app[keys.ENGINE], chatbot.id, request.match_info["entry_id"]
    )
    if entry is None:
        raise not_found("knowledge entry")
    return entry


@page()
async def entry_edit(request: web.Request) -> web.StreamResponse:
    chatbot = await owned_chatbot(request)
    entry = await _entry(request, chatbot)
    values = {name: getattr(entry, name) or "" for name in ENTRY_FIELDS[_kind(entry)]}
    context = {"chatbot": chatbot, "entry": entry, "values": values, "errors": {}}
    return render(request, "knowledge_edit.html", context)


def _kind(entry: repo.KnowledgeEntry) -> str:
    return "qa" if entry.kind == "qa" else "document"


@page()
async def entry_update(request: web.Request) -> web.StreamResponse:
    chatbot = await owned_chatbot(request, Action.MANAGE)
    entry = await _entry(request, chatbot)
    names = ENTRY_FIELDS[_kind(entry)]
    values = {name: field(request, name) for name in names}
    try:
        body = validate_form(KnowledgeUpdate, values, names)
    except FormErrors as exc:
        context = {"chatbot": chatbot, "entry": entry, "values": values, "errors": exc.errors}
        return render(request, "knowledge_edit.html", context, status=422)
    await actions.update_entry(request.app, entry, body)
    flash(request[SESSION], "success", "Entry saved.")
    return redirect(_base(chatbot))


@page()
async def entry_delete(request: web.Request) -> web.StreamResponse:
    chatbot = await owned_chatbot(request, Action.MANAGE)
    await actions.delete_entry(request.app, chatbot.id, request.match_info["entry_id"])
    flash(request[SESSION], "success", "Entry deleted.")
    return redirect(_base(chatbot))
