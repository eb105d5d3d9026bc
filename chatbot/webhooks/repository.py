"""Webhooks and their deliveries as the API shows them: reads and the routes' writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.storage.schema import webhook_deliveries, webhooks
from chatbot.storage.values import as_utc, iso, new_id, utcnow
from chatbot.webhooks.events import TEST_EVENT, Hooks, as_values, event_rows
from chatbot.webhooks.signing import new_secret

_w = webhooks.c
_d = webhook_deliveries.c


def _maybe_utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


@dataclass(frozen=True, slots=True)
class WebhookRecord:
    id: str
    workspace_id: str
    url: str
    events: tuple[str, ...]
    secret: str
    created_at: datetime
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workspace_id": self.workspace_id,
            "url": self.url,
            "events": list(self.events),
            "secret": self.secret,
            "created_at": iso(self.created_at),
            "enabled": self.enabled,
            "failing_since": iso(self.failing_since),
            "disabled_at": iso(self.disabled_at),
            "disabled_reason": self.disabled_reason,
        }


def _webhook(row: Row[Any]) -> WebhookRecord:
    return WebhookRecord(
        id=row.id,
        workspace_id=row.workspace_id,
        url=row.url,
        events=tuple(row.events or ()),
        secret=row.secret,
        created_at=as_utc(row.created_at),
        failing_since=_maybe_utc(row.failing_since),
        disabled_at=_maybe_utc(row.disabled_at),
        disabled_reason=row.disabled_reason,
    )


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "webhook_id": self.webhook_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "status": self.status,
            "attempts": self.attempts,
            "last_status_code": self.last_status_code,
            "last_error": self.last_error,
            "last_attempt_at": iso(self.last_attempt_at),
            "next_attempt_at": iso(self.next_attempt_at),
            "created_at": iso(self.created_at),
        }


_DELIVERY_COLUMNS = (
    _d.id,
    _d.webhook_id,
    _d.event_id,
    _d.event_type,
    _d.status,
    _d.attempts,
    _d.last_status_code,
    _d.last_error,
    _d.last_attempt_at,
    _d.next_attempt_at,
    _d.created_at,
)


def _delivery(row: Any) -> DeliveryRecord:
    return DeliveryRecord(
        id=row.id,
        webhook_id=row.webhook_id,
        event_id=row.event_id,
        event_type=row.event_type,
        status=row.status,
        attempts=row.attempts,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        last_attempt_at=_maybe_utc(row.last_attempt_at),
        next_attempt_at=_maybe_utc(row.next_attempt_at),
        created_at=as_utc(row.created_at),
    )


async def insert_webhook(
    engine: AsyncEngine, workspace_id: str, url: str, events: Sequence[str]
) -> WebhookRecord:
    webhook = WebhookRecord(
        id=new_id(),
        workspace_id=workspace_id,
        url=url,
        events=tuple(events),
        secret=new_secret(),
        created_at=utcnow(),
        failing_since=None,
        disabled_at=None,
        disabled_reason=None,
    )
    values = {
        "id": webhook.id,
        "workspace_id": workspace_id,
        "url": url,
        "events": list(events),
        "secret": webhook.secret,
        "created_at": webhook.created_at,
    }
    async with engine.begin() as connection:
        await connection.execute(insert(webhooks).values(values))
    return webhook


async def count_webhooks(engine: AsyncEngine, workspace_id: str) -> int:
    async with engine.connect() as connection:
        query = select(func.count()).where(_w.workspace_id == workspace_id)
        return int(await connection.scalar(query) or 0)


async def list_webhooks(engine: AsyncEngine, workspace_id: str) -> list[WebhookRecord]:
    query = select(webhooks).where(_w.workspace_id == workspace_id).order_by(_w.created_at, _w.id)
    async with engine.connect() as connection:
        return [_webhook(row) for row in await connection.execute(query)]


async def webhook_of(
    engine: AsyncEngine, workspace_id: str, webhook_id: str
) -> WebhookRecord | None:
    """The workspace's webhook with this id; None for another workspace's, as for none."""
    query = select(webhooks).where(_w.id == webhook_id, _w.workspace_id == workspace_id)
    async with engine.connect() as connection:
        row = (await connection.execute(query)).first()
    return None if row is None else _webhook(row)


async def remove_webhook(engine: AsyncEngine, workspace_id: str, webhook_id: str) -> bool:
    """Delete the webhook and its deliveries; False when the workspace has no such webhook."""
    async with engine.begin() as connection:
        deleted = await connection.execute(
            delete(webhooks)
            .where(_w.id == webhook_id, _w.workspace_id == workspace_id)
            .returning(_w.id)
        )
        if deleted.first() is None:
            return False
        # SQLite's engine checks foreign keys, but say it for both: no delivery outlives it.
        await connection.execute(delete(webhook_deliveries).where(_d.webhook_id == webhook_id))
    return True


async def update_enabled(
    engine: AsyncEngine, workspace_id: str, webhook_id: str, enabled: bool
) -> WebhookRecord | None:
    """Enable (its failures forgotten) or disable the webhook."""
    values: dict[str, Any] = (
        {"disabled_at": None, "disabled_reason": None, "failing_since": None}
        if enabled
        else {"disabled_at": utcnow(), "disabled_reason": "disabled by a member"}
    )
    condition = [_w.id == webhook_id, _w.workspace_id == workspace_id]
    if not enabled:
        condition.append(_w.disabled_at.is_(None))  # keep the first reason and time
    async with engine.begin() as connection:
        await connection.execute(update(webhooks).where(*condition).values(values))
    return await webhook_of(engine, workspace_id, webhook_id)


async def list_deliveries(
    engine: AsyncEngine, webhook_id: str, limit: int, status: str | None = None
) -> list[DeliveryRecord]:
    """The webhook's deliveries, newest first."""
    query = select(*_DELIVERY_COLUMNS).where(_d.webhook_id == webhook_id)
    if status is not None:
        query = query.where(_d.status == status)
    query = query.order_by(_d.created_at.desc(), _d.id.desc()).limit(limit)
    async with engine.connect() as connection:
        return [_delivery(row) for row in await connection.execute(query)]


async def delivery_of(
    engine: AsyncEngine, webhook_id: str, delivery_id: str
) -> DeliveryRecord | None:
    query = select(*_DELIVERY_COLUMNS).where(_d.id == delivery_id, _d.webhook_id == webhook_id)
    async with engine.connect() as connection:
        row = (await connection.execute(query)).first()
    return None if row is None else _delivery(row)


async def schedule_now(
    engine: AsyncEngine, webhook_id: str, delivery_id: str
) -> DeliveryRecord | None:
    """Make the delivery due now (pending again if it had failed or was delivered)."""
    async with engine.begin() as connection:
        await connection.execute(
            update(webhook_deliveries)
            .where(_d.id == delivery_id, _d.webhook_id == webhook_id)
            .values(status="pending", next_attempt_at=utcnow())
        )
    return await delivery_of(engine, webhook_id, delivery_id)


async def insert_test_delivery(engine: AsyncEngine, webhook: WebhookRecord) -> DeliveryRecord:
    """A `webhook.test` event for this webhook alone, due now."""
    now = utcnow()
    data = {
        "webhook_id": webhook.id,
        "workspace_id": webhook.workspace_id,
        "message": "A test event: this endpoint receives the workspace's webhooks.",
    }
    hooks = Hooks(webhook.workspace_id, {TEST_EVENT: (webhook.id,)})
    rows = event_rows(hooks, TEST_EVENT, data, now)
    async with engine.begin() as connection:
        await connection.execute(insert(webhook_deliveries), as_values(rows))
    delivery = await delivery_of(engine, webhook.id, rows[0][0])
    assert delivery is not None
    return delivery
