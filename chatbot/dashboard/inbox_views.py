"""The live inbox and the conversation view; the page script keeps both current."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from chatbot import keys
from chatbot.chatbots import repository as chatbots_repo
from chatbot.dashboard.inbox_queries import (
    MAX_SEARCH_LENGTH,
    STATUSES,
    workspace_conversation,
    workspace_inbox,
)
from chatbot.dashboard.pages import not_found, page, render
from chatbot.dashboard.workspace_context import shown_workspace_ids
from chatbot.http.responses import json_response
from chatbot.workspaces.policy import workspace_ids_for
from chatbot.workspaces.roles import Action

STATUS_LABELS = {
    "waiting_for_human": "Waiting for a person",
    "human": "Taken over",
    "bot": "Bot",
    "closed": "Closed",
}


@dataclass(frozen=True, slots=True)
class InboxFilter:
    """The inbox's query string, checked: what to show, and what was wrong with it."""

    search: str = ""
    status: str | None = None
    chatbot_id: str | None = None
    problem: str = ""

    @classmethod
    def of(cls, query: Any) -> InboxFilter:
        problems = []
        search = str(query.get("q", "")).strip()
        if len(search) > MAX_SEARCH_LENGTH:
            problems.append(f"Search text is limited to {MAX_SEARCH_LENGTH} characters.")
            search = search[:MAX_SEARCH_LENGTH]
        if "\x00" in search:
            problems.append("Search text cannot contain NUL characters.")
            search = search.replace("\x00", "")
        status = query.get("status") or None
        if status is not None and status not in STATUSES:
            problems.append(f"Unknown status {status[:40]!r}: showing every status.")
            status = None
        chatbot_id = query.get("chatbot") or None
        if chatbot_id is not None and len(chatbot_id) > 64:
            chatbot_id = None
        return cls(search, status, chatbot_id, " ".join(problems))

    def as_json(self) -> dict[str, Any]:
        return {"q": self.search, "status": self.status, "chatbot": self.chatbot_id}


async def _inbox_context(request: web.Request, selected: InboxFilter) -> dict[str, Any]:
    workspace_ids = shown_workspace_ids(request)
    engine = request.app[keys.ENGINE]
    chatbots = await chatbots_repo.list_chatbots(engine, workspace_ids)
    items = await workspace_inbox(
        engine,
        workspace_ids,
        search=selected.search,
        status=selected.status,
        chatbot_id=selected.chatbot_id,
    )
    return {
        "items": items,
        "chatbots": chatbots,
        "selection": selected,
        "statuses": STATUS_LABELS,
        "config": {
            "chatbots": {chatbot.id: chatbot.name for chatbot in chatbots},
            "filter": selected.as_json(),
            "workspace": workspace_ids[0] if workspace_ids else None,
            "statuses": STATUS_LABELS,
            "open": None,
        },
    }


@page()
async def inbox(request: web.Request) -> web.StreamResponse:
    selected = InboxFilter.of(request.query)
    context = await _inbox_context(request, selected)
    return render(request, "inbox.html", {**context, "conversation": None, "messages": []})


@page()
async def conversation(request: web.Request) -> web.StreamResponse:
    workspace_ids = await workspace_ids_for(request, Action.READ)
    conversation_id = request.match_info["conversation_id"]
    found = await workspace_conversation(request.app[keys.ENGINE], workspace_ids, conversation_id)
    if found is None:
        raise not_found("conversation")
    item, history, visitor_data = found
    context = await _inbox_context(request, InboxFilter.of(request.query))
    context["config"]["open"] = {"id": item.id, "status": item.status, "last_seq": item.last_seq}
    context.update(
        conversation=item,
        messages=history,
        visitor_data=sorted((str(key), str(value)) for key, value in visitor_data.items()),
    )
    return render(request, "inbox.html", context)


@page(json=True)
async def inbox_data(request: web.Request) -> web.StreamResponse:
    """The inbox list as JSON: the page reloads it after its socket missed events."""
    selected = InboxFilter.of(request.query)
    items = await workspace_inbox(
        request.app[keys.ENGINE],
        shown_workspace_ids(request),
        search=selected.search,
        status=selected.status,
        chatbot_id=selected.chatbot_id,
    )
    return json_response({"items": [item.as_json() for item in items]})
