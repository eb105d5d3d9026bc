"""The dispatcher's side of the outbox: claim due deliveries, record each attempt's answer.

A claim holds a delivery for one attempt (`locked_until`, past the attempt's timeout); its
status and attempts change only once the answer has come back. On PostgreSQL the claim
selects `FOR UPDATE SKIP LOCKED`, so that instances claiming at once never take the same row;
a row held by an instance that died is free again when its hold ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatbot.storage.schema import webhook_deliveries, webhooks
from chatbot.storage.values import as_utc

_w = webhooks.c
_d = webhook_deliveries.c


@dataclass(frozen=True, slots=True)
class Claim:
    """One delivery held by this instance for one attempt, with where and how to send it."""

    id: str
    webhook_id: str
    workspace_id: str
    event_id: str
    body: str
    attempts: int  # made before this one
    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class Answer:
    """How an attempt ended: the receiver's status code, or why there was none."""

    status_code: int | None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def claim_due(engine: AsyncEngine, limit: int, now: datetime, hold: timedelta) -> list[Claim]:
    """Hold up to `limit` due deliveries of enabled webhooks, oldest due first."""
    due = (
        select(_d.id)
        .join(webhooks, _w.id == _d.webhook_id)
        .where(
            _d.next_attempt_at <= now,
            or_(_d.locked_until.is_(None), _d.locked_until < now),
            _w.disabled_at.is_(None),
        )
        .order_by(_d.next_attempt_at)
        .limit(limit)
        .with_for_update(of=webhook_deliveries, skip_locked=True)
    )
    claim = (
        update(webhook_deliveries)
        .where(_d.id.in_(due.scalar_subquery()))
        .values(locked_until=now + hold)
        .returning(_d.id, _d.webhook_id, _d.event_id, _d.body, _d.attempts)
    )
    async with engine.begin() as connection:
        held = (await connection.execute(claim)).all()
        if not held:
            return []
        targets = {
            row.id: row
            for row in await connection.execute(
                select(_w.id, _w.workspace_id, _w.url, _w.secret).where(
                    _w.id.in_({row.webhook_id for row in held})
                )
            )
        }
    return [
        Claim(
            id=row.id,
            webhook_id=row.webhook_id,
            workspace_id=targets[row.webhook_id].workspace_id,
            event_id=row.event_id,
            body=row.body,
            attempts=row.attempts,
            url=targets[row.webhook_id].url,
            secret=targets[row.webhook_id].secret,
        )
        for row in held
        if row.webhook_id in targets
    ]


@dataclass(frozen=True, slots=True)
class Outcome:
    """An attempt that has ended: its answer, when, and the seconds until the next attempt
    after a failure (None when none is left)."""

    claim: Claim
    answer: Answer
    at: datetime
    retry_in: float | None


async def record_answers(
    engine: AsyncEngine, outcomes: Sequence[Outcome], disable_after: timedelta
) -> list[Claim]:
    """Store the attempts' outcomes and release their holds, in one transaction; returns the
    claims whose webhook was disabled now (every attempt failed for `disable_after`)."""
    delivered = [outcome for outcome in outcomes if outcome.answer.delivered]
    disabled: list[Claim] = []
    async with engine.begin() as connection:
        if delivered:  # the common case: two statements for the whole group
            await _record_delivered(connection, delivered)
        for outcome in outcomes:
            if not outcome.answer.delivered and await _record(connection, outcome, disable_after):
                disabled.append(outcome.claim)
    return disabled


async def _record_delivered(connection: AsyncConnection, outcomes: Sequence[Outcome]) -> None:
    await connection.execute(
        update(webhook_deliveries)
        .where(_d.id == bindparam("delivery_id"))
        .values(
            status="delivered",
            attempts=_d.attempts + 1,
            last_status_code=bindparam("status_code"),
            last_error=None,
            last_attempt_at=bindparam("at"),
            next_attempt_at=None,
            locked_until=None,
        ),
        [
            {"delivery_id": o.claim.id, "status_code": o.answer.status_code, "at": o.at}
            for o in outcomes
        ],
    )
    await connection.execute(
        update(webhooks)
        .where(
            _w.id.in_({outcome.claim.webhook_id for outcome in outcomes}),
            _w.failing_since.is_not(None),
        )
        .values(failing_since=None)
    )


async def _record(connection: AsyncConnection, outcome: Outcome, disable_after: timedelta) -> bool:
    """A failed attempt: retried later, or `failed`; the webhook disabled when it has failed
    for too long."""
    claim, answer, now = outcome.claim, outcome.answer, outcome.at
    if outcome.retry_in is None:
        status, next_attempt = "failed", None
    else:
        status, next_attempt = "pending", now + timedelta(seconds=outcome.retry_in)
    await connection.execute(
        update(webhook_deliveries)
        .where(_d.id == claim.id)
        .values(
            status=status,
            attempts=_d.attempts + 1,
            last_status_code=answer.status_code,
            last_error=answer.error,
            last_attempt_at=now,
            next_attempt_at=next_attempt,
            locked_until=None,
        )
    )
    await connection.execute(
        update(webhooks)
        .where(_w.id == claim.webhook_id, _w.failing_since.is_(None))
        .values(failing_since=now)
    )
    since = await connection.scalar(
        select(_w.failing_since).where(_w.id == claim.webhook_id, _w.disabled_at.is_(None))
    )
    if since is None or now - as_utc(since) < disable_after:
        return False
    reason = (
        f"every delivery attempt failed since {as_utc(since).isoformat(timespec='seconds')}"
        f" (last: {answer.error or f'HTTP {answer.status_code}'})"
    )
    await connection.execute(
        update(webhooks)
        .where(_w.id == claim.webhook_id)
        .values(disabled_at=now, disabled_reason=reason)
    )
    return True
