"""One delivery attempt over HTTP: signed, bounded in time and in what is read, no redirects."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from chatbot.webhooks.outbox import Answer, Claim
from chatbot.webhooks.signing import delivery_headers

USER_AGENT = "chatbot-webhooks/1"


async def _drain(response: aiohttp.ClientResponse, limit: int) -> None:
    """Read at most `limit` bytes of the answer (its content does not matter, only its end)."""
    read = 0
    while read <= limit:
        chunk = await response.content.readany()
        if not chunk:
            return
        read += len(chunk)


async def attempt(
    session: aiohttp.ClientSession, claim: Claim, timeout: float, max_response_bytes: int
) -> Answer:
    """POST the delivery's body to its webhook's URL; the receiver's answer, or why none."""
    body = claim.body.encode()
    headers = delivery_headers(claim.secret, claim.event_id, int(time.time()), body)
    headers["user-agent"] = USER_AGENT
    try:
        async with asyncio.timeout(timeout):
            async with session.post(
                claim.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                await _drain(response, max_response_bytes)
                status = response.status
    except TimeoutError:
        return Answer(None, f"no answer within {timeout:g} s")
    except aiohttp.ClientConnectorError as exc:
        return Answer(None, f"could not connect: {exc.os_error.strerror or exc.os_error}")
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return Answer(None, f"request failed: {exc.__class__.__name__}: {exc}"[:500])
    if 300 <= status < 400:
        return Answer(status, "a redirect, which is not followed: give the final URL")
    if status >= 300:
        return Answer(status, f"the receiver answered HTTP {status}")
    return Answer(status)
