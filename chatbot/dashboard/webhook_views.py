"""Webhooks page: a workspace's webhooks and their deliveries; create, delete, enable again,
send a test event, retry a delivery. Owners and admins only, as on the API."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chatbot import keys
from chatbot.dashboard.forms import FormErrors, api_errors, validate_form
from chatbot.dashboard.pages import (
    PageError,
    field,
    form_of,
    page,
    redirect,
    render,
    require_page,
)
from chatbot.dashboard.session import SESSION, flash
from chatbot.dashboard.workspace_context import current_workspace
from chatbot.errors import Conflict, NotFound, ValidationFailed
from chatbot.webhooks import actions
from chatbot.webhooks import repository as repo
from chatbot.webhooks.events import EVENT_TYPES
from chatbot.webhooks.repository import WebhookRecord
from chatbot.webhooks.schemas import WebhookCreate
from chatbot.workspaces.policy import workspace_ids_for
from chatbot.workspaces.roles import Action

FIELDS = ("url", "events")
SHOWN_DELIVERIES = 20  # the newest of each webhook; the API pages further


def _base(workspace_id: str) -> str:
    return f"/dashboard/workspaces/{workspace_id}/webhooks/"


async def _workspace(request: web.Request) -> str:
    """The workspace in the path, when the user may manage it (agents 403, others 404)."""
    workspace_id = request.match_info["workspace_id"]
    await require_page(request, workspace_id, Action.MANAGE, "workspace")
    return workspace_id


async def _webhook(request: web.Request) -> WebhookRecord:
    workspace_id = await _workspace(request)
    try:
        return await actions.webhook_or_404(
            request.app, workspace_id, request.match_info["webhook_id"]
        )
    except NotFound:
        raise PageError(
            404, "No such webhook", "This webhook does not exist (was it deleted?)."
        ) from None


async def _page(
    request: web.Request,
    workspace_id: str,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    engine = request.app[keys.ENGINE]
    hooks = await repo.list_webhooks(engine, workspace_id)
    deliveries = {
        hook.id: await repo.list_deliveries(engine, hook.id, SHOWN_DELIVERIES) for hook in hooks
    }
    context: dict[str, Any] = {
        "workspace_id": workspace_id,
        "webhooks": hooks,
        "deliveries": deliveries,
        "disabled": [hook for hook in hooks if not hook.enabled],
        "event_types": EVENT_TYPES,
        "values": values or {"url": "", "events": list(EVENT_TYPES)},
        "errors": errors or {},
        "base": _base(workspace_id),
        "max_webhooks": request.app[keys.SETTINGS].webhooks.max_per_workspace,
    }
    return render(request, "webhooks.html", context, status=status)


@page()
async def webhooks_home(request: web.Request) -> web.StreamResponse:
    """The webhooks of the current workspace, when the user manages it; else of the first
    workspace they manage."""
    managed = await workspace_ids_for(request, Action.MANAGE)
    current = current_workspace(request)
    if current is not None and current.workspace_id in managed:
        return redirect(_base(current.workspace_id))
    if not managed:
        raise PageError(
            403,
            "Not allowed",
            "Only owners and admins of a workspace manage its webhooks: ask one of them.",
        )
    return redirect(_base(managed[0]))


@page()
async def webhook_list(request: web.Request) -> web.StreamResponse:
    return await _page(request, await _workspace(request))


@page()
async def webhook_create(request: web.Request) -> web.StreamResponse:
    workspace_id = await _workspace(request)
    values: dict[str, Any] = {
        "url": field(request, "url").strip(),
        "events": [value for value in form_of(request).getall("events", []) if value],
    }
    try:
        body = validate_form(WebhookCreate, values, FIELDS)
        webhook = await actions.create_webhook(request.app, workspace_id, body.url, body.events)
    except FormErrors as exc:
        return await _page(request, workspace_id, values=values, errors=exc.errors, status=422)
    except (ValidationFailed, Conflict) as exc:  # a private address, as many webhooks as allowed
        errors = api_errors(exc, FIELDS)
        return await _page(request, workspace_id, values=values, errors=errors, status=exc.status)
    flash(
        request[SESSION],
        "success",
        f"Webhook added: {webhook.url} receives its events from now on, signed with its secret.",
    )
    return redirect(_base(workspace_id))


@page()
async def webhook_delete(request: web.Request) -> web.StreamResponse:
    webhook = await _webhook(request)
    await actions.delete_webhook(request.app, webhook.workspace_id, webhook.id)
    flash(request[SESSION], "success", f"Webhook deleted: {webhook.url} gets no more events.")
    return redirect(_base(webhook.workspace_id))


@page()
async def webhook_enable(request: web.Request) -> web.StreamResponse:
    webhook = await _webhook(request)
    await actions.set_webhook_enabled(request.app, webhook.workspace_id, webhook.id, True)
    flash(request[SESSION], "success", "Webhook enabled again: its waiting deliveries go out now.")
    return redirect(_base(webhook.workspace_id))


@page()
async def webhook_test(request: web.Request) -> web.StreamResponse:
    webhook = await _webhook(request)
    await actions.send_test_event(request.app, webhook)
    flash(
        request[SESSION],
        "success",
        "Test event sent: reload the page in a moment to see how the endpoint answered.",
    )
    return redirect(_base(webhook.workspace_id))


@page()
async def delivery_retry(request: web.Request) -> web.StreamResponse:
    webhook = await _webhook(request)
    try:
        await actions.retry_delivery(request.app, webhook, request.match_info["delivery_id"])
    except NotFound:
        raise PageError(
            404, "No such delivery", "This delivery does not exist (was its webhook deleted?)."
        ) from None
    flash(request[SESSION], "success", "The delivery is sent again now, with the same webhook-id.")
    return redirect(_base(webhook.workspace_id))
