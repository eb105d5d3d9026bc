"""The live inbox and the conversation view; the page script keeps both current."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from chatbot import keys
from chatbot.chat.service import CHAT
from chatbot.chatbots import repository as chatbots_repo
from chatbot.conversations.repository import (
    UNASSIGNED,
    AssigneeFilter,
    conversation_by_id,
    display_name,
)
from chatbot.dashboard.inbox_queries import (
    MAX_SEARCH_LENGTH,
    Visitor,
    workspace_conversation,
    workspace_inbox,
)
from chatbot.dashboard.pages import current_operator, not_found, page, render
from chatbot.dashboard.workspace_context import shown_workspace_ids
from chatbot.http.responses import json_response
from chatbot.privacy.visitors import export_visitor
from chatbot.vocabulary import STATUSES
from chatbot.workspaces.policy import workspace_ids_for
from chatbot.workspaces.repository import members as workspace_members
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
    assignee: str | None = None  # "me", "none", or None for every conversation

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
        assignee = query.get("assignee") or None
        if assignee is not None and assignee not in ASSIGNEE_LABELS:
            problems.append(f"Unknown assignee filter {assignee[:40]!r}: showing all.")
            assignee = None
        return cls(search, status, chatbot_id, " ".join(problems), assignee)

    def as_json(self) -> dict[str, Any]:
        return {
            "q": self.search,
            "status": self.status,
            "chatbot": self.chatbot_id,
            "assignee": self.assignee,
        }

    def assignee_filter(self, request: web.Request) -> AssigneeFilter:
        """The queries' filter: the operator's own conversations, unassigned ones, or all."""
        if self.assignee == "me":
            return current_operator(request).id
        return UNASSIGNED if self.assignee == "none" else None


ASSIGNEE_LABELS = {"me": "Mine", "none": "Unassigned"}


async def _team(request: web.Request, workspace_ids: list[str]) -> list[dict[str, Any]]:
    """The members of these workspaces (each once), with whether they are online."""
    engine = request.app[keys.ENGINE]
    found: dict[str, dict[str, Any]] = {}
    for workspace_id in workspace_ids:
        for member in await workspace_members(engine, workspace_id):
            name = display_name(member.name, member.email)
            found.setdefault(member.user_id, {"id": member.user_id, "name": name})
    try:
        online = await request.app[CHAT].presence.online(list(found))
    except Exception:  # presence unknown: shown as offline, corrected by the live events
        online = set()
    return [{**member, "online": member["id"] in online} for member in found.values()]


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
        assignee=selected.assignee_filter(request),
    )
    team = await _team(request, list(workspace_ids))
    return {
        "items": items,
        "team": team,
        "assignees": ASSIGNEE_LABELS,
        "chatbots": chatbots,
        "selection": selected,
        "statuses": STATUS_LABELS,
        "config": {
            "chatbots": {chatbot.id: chatbot.name for chatbot in chatbots},
            "filter": selected.as_json(),
            "workspace": workspace_ids[0] if workspace_ids else None,
            "statuses": STATUS_LABELS,
            "open": None,
            "me": current_operator(request).id,
            "team": {member["id"]: member["name"] for member in team},
        },
    }


@page()
async def inbox(request: web.Request) -> web.StreamResponse:
    selected = InboxFilter.of(request.query)
    context = await _inbox_context(request, selected)
    return render(request, "inbox.html", {**context, "conversation": None, "messages": []})


def _verified(visitor: Visitor) -> dict[str, str] | None:
    """A verified visitor's user id, with the name and email their page identified."""
    if visitor.user_id is None:
        return None
    shown = {"user_id": visitor.user_id}
    for field in ("name", "email"):
        value = visitor.data.get(field)
        if isinstance(value, str) and value.strip():
            shown[field] = value.strip()
    return shown


@page()
async def conversation(request: web.Request) -> web.StreamResponse:
    workspace_ids = await workspace_ids_for(request, Action.READ)
    conversation_id = request.match_info["conversation_id"]
    found = await workspace_conversation(request.app[keys.ENGINE], workspace_ids, conversation_id)
    if found is None:
        raise not_found("conversation")
    item, history, visitor = found
    context = await _inbox_context(request, InboxFilter.of(request.query))
    context["config"]["open"] = {
        "id": item.id,
        "status": item.status,
        "last_seq": item.last_seq,
        "assignee": None if item.assignee is None else item.assignee.as_json(),
    }
    context.update(
        conversation=item,
        messages=history,
        visitor_data=sorted((str(key), str(value)) for key, value in visitor.data.items()),
        verified=_verified(visitor),
    )
    return render(request, "inbox.html", context)


@page()
async def visitor_export(request: web.Request) -> web.StreamResponse:
    """The conversation's visitor's data (every conversation of theirs), as a JSON download:
    the same document as `GET /api/chatbots/{id}/visitors/{visitor_id}/export/`."""
    engine = request.app[keys.ENGINE]
    conversation_id = request.match_info["conversation_id"]
    managed = await workspace_ids_for(request, Action.MANAGE)
    async with engine.connect() as connection:
        found = await conversation_by_id(connection, conversation_id)
    if found is not None and found.workspace_id not in managed:
        found = None  # not theirs to export, exactly like a conversation that does not exist
    exported = None
    if found is not None:
        exported = await export_visitor(engine, found.chatbot_id, found.visitor_id)
    if found is None or exported is None:
        raise not_found("conversation")
    filename = f"visitor-{found.visitor_id}.json"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return json_response(exported, headers=headers)


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
        assignee=selected.assignee_filter(request),
    )
    return json_response({"items": [item.as_json() for item in items]})
