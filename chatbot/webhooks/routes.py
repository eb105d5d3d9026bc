"""`/api/workspaces/{id}/webhooks/`: a workspace's webhooks and their deliveries.

Owners and admins manage them; whoever else answers as the policy says (agents 403,
non-members 404 as for a workspace that does not exist).
"""

from __future__ import annotations

from aiohttp import web

from chatbot import keys
from chatbot.http.responses import json_response, no_content
from chatbot.http.routing import RouteTable
from chatbot.http.validation import read_json, read_query
from chatbot.webhooks import actions
from chatbot.webhooks import repository as repo
from chatbot.webhooks.access import require_manager
from chatbot.webhooks.repository import WebhookRecord
from chatbot.webhooks.schemas import (
    DeliveryList,
    DeliveryOut,
    DeliveryQuery,
    WebhookCreate,
    WebhookList,
    WebhookOut,
    WebhookUpdate,
)

TAG = "webhooks"


async def _workspace(request: web.Request) -> str:
    workspace_id = request.match_info["workspace_id"]
    await require_manager(request, workspace_id)
    return workspace_id


async def _webhook(request: web.Request) -> WebhookRecord:
    workspace_id = await _workspace(request)
    return await actions.webhook_or_404(request.app, workspace_id, request.match_info["webhook_id"])


async def create_webhook(request: web.Request) -> web.Response:
    """The answer holds the secret that signs the webhook's deliveries."""
    body = await read_json(request, WebhookCreate, strict=True)
    workspace_id = await _workspace(request)
    webhook = await actions.create_webhook(request.app, workspace_id, body.url, body.events)
    return json_response(webhook.as_json(), status=201)


async def list_webhooks(request: web.Request) -> web.Response:
    workspace_id = await _workspace(request)
    webhooks = await repo.list_webhooks(request.app[keys.ENGINE], workspace_id)
    return json_response({"items": [webhook.as_json() for webhook in webhooks]})


async def get_webhook(request: web.Request) -> web.Response:
    return json_response((await _webhook(request)).as_json())


async def update_webhook(request: web.Request) -> web.Response:
    """`{"enabled": true}` enables a disabled webhook again: its waiting deliveries go out."""
    body = await read_json(request, WebhookUpdate, strict=True)
    webhook = await _webhook(request)
    changed = await actions.set_webhook_enabled(
        request.app, webhook.workspace_id, webhook.id, body.enabled
    )
    return json_response(changed.as_json())


async def delete_webhook(request: web.Request) -> web.Response:
    """Its deliveries go with it, sent or not."""
    workspace_id = await _workspace(request)
    await actions.delete_webhook(request.app, workspace_id, request.match_info["webhook_id"])
    return no_content()


async def list_deliveries(request: web.Request) -> web.Response:
    """Newest first."""
    query = read_query(request.query, DeliveryQuery)
    webhook = await _webhook(request)
    deliveries = await repo.list_deliveries(
        request.app[keys.ENGINE], webhook.id, query.limit, query.status
    )
    return json_response({"items": [delivery.as_json() for delivery in deliveries]})


async def retry_delivery(request: web.Request) -> web.Response:
    """Sends it again now, with the same webhook-id; a failed delivery is pending again."""
    webhook = await _webhook(request)
    delivery = await actions.retry_delivery(request.app, webhook, request.match_info["delivery_id"])
    return json_response(delivery.as_json(), status=202)


async def send_test_event(request: web.Request) -> web.Response:
    """A `webhook.test` event for this webhook only, sent now."""
    webhook = await _webhook(request)
    delivery = await actions.send_test_event(request.app, webhook)
    return json_response(delivery.as_json(), status=202)


def add_webhook_routes(routes: RouteTable) -> None:
    """Register the webhook routes."""
    collection = "/api/workspaces/{workspace_id}/webhooks/"
    item = collection + "{webhook_id}/"
    deliveries = item + "deliveries/"
    common = {"tag": TAG, "errors": (401, 403, 404)}
    routes.add(
        "POST",
        collection,
        create_webhook,
        body=WebhookCreate,
        response=WebhookOut,
        status=201,
        summary="Add a webhook",
        **{**common, "errors": (401, 403, 404, 409)},
    )
    routes.add(
        "GET", collection, list_webhooks, response=WebhookList, summary="List webhooks", **common
    )
    routes.add("GET", item, get_webhook, response=WebhookOut, summary="A webhook", **common)
    routes.add(
        "PATCH",
        item,
        update_webhook,
        body=WebhookUpdate,
        response=WebhookOut,
        summary="Enable or disable a webhook",
        **common,
    )
    routes.add("DELETE", item, delete_webhook, status=204, summary="Delete a webhook", **common)
    routes.add(
        "POST",
        item + "test/",
        send_test_event,
        response=DeliveryOut,
        status=202,
        summary="Send a test event",
        **common,
    )
    routes.add(
        "GET",
        deliveries,
        list_deliveries,
        query=DeliveryQuery,
        response=DeliveryList,
        summary="A webhook's deliveries",
        **common,
    )
    routes.add(
        "POST",
        deliveries + "{delivery_id}/retry/",
        retry_delivery,
        response=DeliveryOut,
        status=202,
        summary="Send a delivery again now",
        **common,
    )
