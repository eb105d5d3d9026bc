"""`/api/chatbots/{id}/knowledge/`: entries, file uploads and the test question box."""

from __future__ import annotations

from aiohttp import web

from chatbot import keys
from chatbot.brains.base import BrainRequest
from chatbot.brains.knowledge import KnowledgeBrain
from chatbot.chatbots.routes import chatbot_for
from chatbot.http.responses import json_response, no_content
from chatbot.http.routing import RouteTable
from chatbot.http.validation import read_json
from chatbot.knowledge import actions
from chatbot.knowledge import repository as repo
from chatbot.knowledge.index import knowledge_index
from chatbot.knowledge.schemas import (
    KnowledgeCreate,
    KnowledgeEntryOut,
    KnowledgeList,
    KnowledgeUpdate,
    ProbeMatch,
    ProbeResult,
    QuestionProbe,
)
from chatbot.knowledge.uploads import MULTIPART_BODY, read_files
from chatbot.retrieval.index import Match
from chatbot.workspaces.roles import Action

TAG = "knowledge"
PROBE_CANDIDATES = 3
# Entry ids are lowercase uuids: the pattern keeps the sibling routes (`upload/`, `test/`) out.
ENTRY_ID = "{entry_id:[0-9a-f-]+}"


def _document_request(request: web.Request) -> web.Request:
    """The request, allowed a body as large as a knowledge upload (`max_upload_bytes`).

    A typed document may be as long as an uploaded one, and JSON can spell each character
    in up to 12 bytes (`\\ud83d\\ude00`): the app-wide JSON limit would refuse documents
    within the documented length.
    """
    settings = request.app[keys.SETTINGS]
    limit = max(settings.max_body_bytes, settings.max_upload_bytes)
    return request.clone(client_max_size=limit)


async def create_entry(request: web.Request) -> web.Response:
    body = await read_json(_document_request(request), KnowledgeCreate, strict=True)
    chatbot = await chatbot_for(request, request.match_info["chatbot_id"], Action.MANAGE)
    entry = await actions.add_entry(request.app, chatbot.id, body)
    return json_response(entry.as_json(), status=201)


async def upload_entries(request: web.Request) -> web.Response:
    chatbot = await chatbot_for(request, request.match_info["chatbot_id"], Action.MANAGE)
    entries = await actions.add_files(request.app, chatbot.id, await read_files(request))
    return json_response({"items": [entry.as_json() for entry in entries]}, status=201)


async def list_entries(request: web.Request) -> web.Response:
    chatbot = await chatbot_for(request, request.match_info["chatbot_id"], Action.READ)
    entries = await repo.list_entries(request.app[keys.ENGINE], chatbot.id)
    return json_response({"items": [entry.as_json() for entry in entries]})


async def _entry_for(request: web.Request, action: Action) -> repo.KnowledgeEntry:
    """The entry named in the path, of a chatbot the caller may do `action` with."""
    chatbot = await chatbot_for(request, request.match_info["chatbot_id"], action)
    entry_id = request.match_info["entry_id"]
    entry = await repo.get_entry(request.app[keys.ENGINE], chatbot.id, entry_id)
    if entry is None:
        raise actions.entry_not_found(entry_id)
    return entry


async def get_entry(request: web.Request) -> web.Response:
    return json_response((await _entry_for(request, Action.READ)).as_json())


async def update_entry(request: web.Request) -> web.Response:
    body = await read_json(_document_request(request), KnowledgeUpdate, strict=True)
    entry = await _entry_for(request, Action.MANAGE)
    updated = await actions.update_entry(request.app, entry, body)
    return json_response(updated.as_json())


async def delete_entry(request: web.Request) -> web.Response:
    chatbot = await chatbot_for(request, request.match_info["chatbot_id"], Action.MANAGE)
    await actions.delete_entry(request.app, chatbot.id, request.match_info["entry_id"])
    return no_content()


def _probe_match(match: Match, entries: dict[str, repo.KnowledgeEntry]) -> ProbeMatch | None:
    entry = entries.get(match.passage.entry_id)
    if entry is None:  # deleted since the index was built
        return None
    return ProbeMatch(
        entry_id=entry.id,
        kind="qa" if entry.kind == "qa" else "document",
        question=entry.question,
        title=entry.title,
        passage=match.passage.match_text,
        reply=match.passage.reply_text,
        score=round(match.confidence, 4),
    )


async def probe_question(request: web.Request) -> web.Response:
    body = await read_json(request, QuestionProbe, strict=True)
    chatbot = await chatbot_for(request, request.match_info["chatbot_id"], Action.READ)
    app = request.app
    index = await knowledge_index(app, chatbot.id)
    settings = app[keys.SETTINGS].brains
    # The knowledge brain itself decides, so the box shows exactly what a visitor would get.
    brain = KnowledgeBrain(
        fallback_message=settings.fallback_message, threshold=settings.knowledge_threshold
    )
    reply = brain.reply(
        BrainRequest(
            chatbot_name=chatbot.name, question=body.question, config=chatbot.brain, knowledge=index
        )
    )
    text = await reply.collect()
    matches = await index.asearch(body.question, limit=PROBE_CANDIDATES)
    found = await repo.list_entries(
        app[keys.ENGINE], chatbot.id, ids={match.passage.entry_id for match in matches}
    )
    entries = {entry.id: entry for entry in found}
    candidates = [item for match in matches if (item := _probe_match(match, entries))]
    chosen = next((c for c in candidates if c.entry_id == reply.verdict.entry_id), None)
    threshold = chatbot.brain.get("threshold", settings.knowledge_threshold)
    answer = ProbeResult(
        question=body.question,
        answered=not reply.handoff,
        threshold=float(threshold) if isinstance(threshold, int | float) else 0.0,
        reply=text,
        match=chosen,
        candidates=candidates,
    )
    return json_response(answer)


def add_knowledge_routes(routes: RouteTable) -> None:
    """Register the knowledge routes."""
    base = "/api/chatbots/{chatbot_id}/knowledge/"
    item = base + ENTRY_ID + "/"
    body_errors = (400, 401, 404, 413, 422)
    change_errors = (400, 401, 403, 404, 413, 422)
    routes.add(
        "POST",
        base,
        create_entry,
        body=KnowledgeCreate,
        response=KnowledgeEntryOut,
        status=201,
        errors=change_errors,
        summary="Add a question/answer pair or a document",
        tag=TAG,
    )
    routes.add(
        "GET",
        base,
        list_entries,
        response=KnowledgeList,
        errors=(401, 404),
        summary="The chatbot's knowledge entries",
        tag=TAG,
    )
    routes.add(
        "POST",
        base + "upload/",
        upload_entries,
        response=KnowledgeList,
        status=201,
        errors=change_errors,
        summary="Upload text, Markdown, HTML or PDF files (multipart) as documents",
        tag=TAG,
        extra={"openapi": {"requestBody": MULTIPART_BODY}},
    )
    routes.add(
        "POST",
        base + "test/",
        probe_question,
        body=QuestionProbe,
        response=ProbeResult,
        errors=body_errors,
        summary="Which entry the knowledge brain would answer a question with",
        tag=TAG,
    )
    routes.add(
        "GET",
        item,
        get_entry,
        response=KnowledgeEntryOut,
        errors=(401, 404),
        summary="A knowledge entry",
        tag=TAG,
    )
    routes.add(
        "PATCH",
        item,
        update_entry,
        body=KnowledgeUpdate,
        response=KnowledgeEntryOut,
        errors=(*change_errors, 409),
        summary="Edit a knowledge entry",
        tag=TAG,
    )
    routes.add(
        "DELETE",
        item,
        delete_entry,
        status=204,
        errors=(401, 403, 404),
        summary="Delete a knowledge entry",
        tag=TAG,
    )
