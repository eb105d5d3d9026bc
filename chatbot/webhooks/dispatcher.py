"""The dispatcher: each instance sends the due deliveries of the outbox, a bounded number at
once, and records each answer; a failed attempt is tried again later, with backoff.

It looks for due deliveries every `poll_seconds`, and at once when this instance has stored
events (`wake`) or an attempt has ended and a slot is free. Answers are recorded together, in
one transaction per group (what came back while the previous group was written), so that a
busy endpoint costs the database a few commits a second rather than one per delivery.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from datetime import timedelta

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.backends.broker import Broker
from chatbot.config import WebhookSettings
from chatbot.storage.values import utcnow
from chatbot.webhooks.outbox import Claim, Outcome, claim_due, record_answers
from chatbot.webhooks.schedule import retry_delay
from chatbot.webhooks.sender import attempt
from chatbot.webhooks.subscriptions import announce_change

log = logging.getLogger(__name__)

# A claim holds its delivery this much longer than an attempt may take.
_HOLD_MARGIN_SECONDS = 5.0
# After a failed look for due deliveries (the database is down), the next one waits this long.
_ERROR_PAUSE_SECONDS = 2.0
# Looks for due deliveries are at least this far apart: under a stream of events, each look
# claims what came meanwhile instead of taking the database's write lock once per event.
_CLAIM_GAP_SECONDS = 0.02


class Dispatcher:
    """Sends this instance's share of the due deliveries."""

    def __init__(
        self,
        engine: AsyncEngine,
        session: aiohttp.ClientSession,
        broker: Broker,
        settings: WebhookSettings,
    ) -> None:
        self._engine = engine
        self._session = session
        self._broker = broker
        self._settings = settings
        self._hold = timedelta(seconds=settings.timeout_seconds + _HOLD_MARGIN_SECONDS)
        self._wakeup = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        # Each attempt in flight puts at most one outcome: bounded by the concurrency.
        self._outcomes: asyncio.Queue[tuple[Outcome, asyncio.Future[None]]] = asyncio.Queue(
            settings.concurrency
        )
        self._recorder: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Look for due deliveries now."""
        self._wakeup.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-dispatcher")
        self._recorder = asyncio.create_task(self._record(), name="webhook-recorder")

    async def close(self, timeout: float) -> None:
        """Stop looking; attempts in flight get `timeout` to end (a cut one is tried again
        once its hold ends, by any instance)."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        if self._in_flight:
            _, pending = await asyncio.wait(self._in_flight, timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._recorder is not None:
            self._recorder.cancel()
            with suppress(asyncio.CancelledError):
                await self._recorder

    async def _run(self) -> None:
        settings = self._settings
        while True:
            await asyncio.sleep(_CLAIM_GAP_SECONDS)
            self._wakeup.clear()
            free = settings.concurrency - len(self._in_flight)
            claimed: list[Claim] = []
            if free > 0:
                try:
                    claimed = await claim_due(self._engine, free, utcnow(), self._hold)
                except Exception as exc:
                    log.warning("webhooks: cannot read due deliveries (%s)", exc)
                    await asyncio.sleep(_ERROR_PAUSE_SECONDS)
                    continue
            for claim in claimed:
                task = asyncio.create_task(self._send(claim), name="webhook-attempt")
                self._in_flight.add(task)
                task.add_done_callback(self._ended)
            if claimed and len(claimed) == free:
                continue  # more may be due: look again once a slot is free (`_ended` wakes)
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), settings.poll_seconds)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wakeup.set()

    async def _send(self, claim: Claim) -> None:
        settings = self._settings
        answer = await attempt(
            self._session, claim, settings.timeout_seconds, settings.max_response_bytes
        )
        retry_in = None
        if not answer.delivered:
            retry_in = retry_delay(
                claim.attempts + 1, settings.retry_delays_seconds, settings.retry_jitter
            )
        recorded = asyncio.get_running_loop().create_future()
        await self._outcomes.put((Outcome(claim, answer, utcnow(), retry_in), recorded))
        # The slot stays taken until the answer is stored. Not stored (the database is down):
        # the hold ends and the attempt is made again (at least once).
        await recorded

    async def _record(self) -> None:
        """Store the outcomes that have come back, a group per transaction."""
        disable_after = timedelta(seconds=self._settings.disable_after_seconds)
        while True:
            group = [await self._outcomes.get()]
            while not self._outcomes.empty():
                group.append(self._outcomes.get_nowait())
            try:
                disabled = await record_answers(
                    self._engine, [outcome for outcome, _ in group], disable_after
                )
            except Exception as exc:
                log.warning("webhooks: %d attempt(s) not recorded (%s)", len(group), exc)
                disabled = []
            for _, recorded in group:
                if not recorded.done():
                    recorded.set_result(None)
            for claim in disabled:
                log.warning(
                    "webhooks: webhook %s disabled: every attempt failed for %.0f s",
                    claim.webhook_id,
                    self._settings.disable_after_seconds,
                )
                try:  # the instances' caches forget it: no more events written for it
                    await announce_change(self._broker, claim.workspace_id)
                except Exception as exc:  # the recorder must go on: attempts wait on it
                    log.warning("webhooks: disabling %s not announced (%s)", claim.webhook_id, exc)
