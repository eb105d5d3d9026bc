"""A client that stops reading is dropped with 4008; the others in its room do not wait for it."""

from __future__ import annotations

import time

import pytest
from aiohttp import WSMsgType
from chat_helpers import create_chatbot, message_frame, next_frame, register, visitor_path

from conftest import ClientFactory

pytestmark = pytest.mark.both_stacks


async def test_a_client_that_stops_reading_is_closed_with_4008_while_another_keeps_up(
    make_client: ClientFactory,
) -> None:
    client = await make_client(
        chat={"max_text_length": 60_000, "outbound_queue_size": 8},
        rate_limits={"enabled": False},
    )
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")
    big = "x" * 59_000
    round_trips: list[float] = []

    async with client.ws_connect(visitor_path(chatbot["slug"])) as fast:
        token = (await next_frame(fast))["visitor_token"]
        # The same visitor in a second tab that never reads: its frames pile up on the server.
        async with client.ws_connect(visitor_path(chatbot["slug"], token)) as slow:
            for index in range(150):
                started = time.monotonic()
                client_id = f"big-{index}"
                await fast.send_json({"type": "message", "text": big, "client_id": client_id})
                await message_frame(fast, "visitor", client_id=client_id)
                await message_frame(fast, "bot", timeout=10)
                round_trips.append(time.monotonic() - started)

            frames = 0
            while True:
                received = await slow.receive(timeout=15)
                if received.type != WSMsgType.TEXT:
                    break
                frames += 1

    assert received.type == WSMsgType.CLOSE
    assert slow.close_code == 4008
    assert frames < 150 * 3, "the slow client was sent everything: it was never dropped"
    # A round trip takes milliseconds; waiting for the slow client would take the 15 s it
    # needs to be dropped. 2 s tells the two apart even on a loaded machine.
    assert max(round_trips) < 2.0, f"the reading client waited: {max(round_trips):.2f}s"
