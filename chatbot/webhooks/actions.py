"""One function per webhook write: the write, the cache drop on every instance, the wake-up.

REST handlers and dashboard views call these, so that both do exactly the same.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from chatbot import keys
from chatbot.errors import Conflict, NotFound, ValidationFailed
from chatbot.http.outbound import url_problem
from chatbot.webhooks import repository as repo
from chatbot.webhooks.repository import DeliveryRecord, WebhookRecord
from chatbot.webhooks.subscriptions import WEBHOOKS, announce_change


def _webhook_not_found(webhook_id: str) -> NotFound:
    return NotFound(f"no webhook with id {webhook_id!r}", code="webhook_not_found")


async def ensure_allowed_url(app: web.Application, url: str) -> None:
    """Refuse (422 `url_not_allowed`) a URL whose host is not a public address."""
    if app[keys.SETTINGS].webhooks.allow_private_targets:
        return
    problem = await url_problem(url)
    if problem is not None:
        message = (
            f"{problem}, so the server will not send webhooks to it: use a public address, or "
            "set CHATBOT_WEBHOOKS__ALLOW_PRIVATE_TARGETS=true for receivers on your own network"
        )
        raise ValidationFailed(
            f"url: {message}",
            code="url_not_allowed",
            fields=[{"field": "url", "message": message}],
        )


async def create_webhook(
    app: web.Application, workspace_id: str, url: str, events: Sequence[str]
) -> WebhookRecord:
    await ensure_allowed_url(app, url)
    engine = app[keys.ENGINE]
    most = app[keys.SETTINGS].webhooks.max_per_workspace
    if await repo.count_webhooks(engine, workspace_id) >= most:
        raise Conflict(
            f"this workspace has {most} webhooks, the most it may have: delete one first",
            code="too_many_webhooks",
        )
    webhook = await repo.insert_webhook(engine, workspace_id, url, events)
    await announce_change(app[keys.BROKER], workspace_id)
    return webhook


async def webhook_or_404(app: web.Application, workspace_id: str, webhook_id: str) -> WebhookRecord:
    webhook = await repo.webhook_of(app[keys.ENGINE], workspace_id, webhook_id)
    if webhook is None:
        raise _webhook_not_found(webhook_id)
    return webhook


async def delete_webhook(app: web.Application, workspace_id: str, webhook_id: str) -> None:
    if not await repo.remove_webhook(app[keys.ENGINE], workspace_id, webhook_id):
        raise _webhook_not_found(webhook_id)
    await announce_change(app[keys.BROKER], workspace_id)


async def set_webhook_enabled(
    app: web.Application, workspace_id: str, webhook_id: str, enabled: bool
) -> WebhookRecord:
    webhook = await repo.update_enabled(app[keys.ENGINE], workspace_id, webhook_id, enabled)
    if webhook is None:
        raise _webhook_not_found(webhook_id)
    await announce_change(app[keys.BROKER], workspace_id)
    if enabled:
        app[WEBHOOKS].written()  # its waiting deliveries are due again
    return webhook


async def retry_delivery(
    app: web.Application, webhook: WebhookRecord, delivery_id: str
) -> DeliveryRecord:
    """Send the delivery again now (pending again if it had failed)."""
    delivery = await repo.schedule_now(app[keys.ENGINE], webhook.id, delivery_id)
    if delivery is None:
        raise NotFound(f"no delivery with id {delivery_id!r}", code="delivery_not_found")
    app[WEBHOOKS].written()
    return delivery


async def send_test_event(app: web.Application, webhook: WebhookRecord) -> DeliveryRecord:
    """A `webhook.test` delivery to this webhook, sent now."""
    delivery = await repo.insert_test_delivery(app[keys.ENGINE], webhook)
    app[WEBHOOKS].written()
    return delivery
