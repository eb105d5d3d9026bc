"""One error mapping for both sockets: an outage is `unavailable`, any other failure is
`internal_error` naming the request id of its logged traceback; a refusal is counted once."""

from __future__ import annotations

import logging

import asyncpg
import pytest
from chat_helpers import (
    create_chatbot,
    frame_of_type,
    message_frame,
    next_frame,
    register,
    send_message,
    visitor_path,
)
from prometheus_client.parser import text_string_to_metric_families

from conftest import ClientFactory, drop_postgres_database

AGENT = "/ws/chat/agent/"
REQUEST_ID = "socket-errors-test-1"

# A database that refuses every status change with an error of its own: reachable, but failing
# the way a bug would (not an outage).
REFUSE_STATUS_CHANGES = """
CREATE FUNCTION refuse_status_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'status changes are refused by this test';
END $$ LANGUAGE plpgsql;
CREATE TRIGGER refuse_status_change BEFORE UPDATE OF status ON conversations
    FOR EACH ROW EXECUTE FUNCTION refuse_status_change();
"""


async def _refuse_status_changes(postgres_url: str) -> None:
    connection = await asyncpg.connect(postgres_url)
    try:
        await connection.execute(REFUSE_STATUS_CHANGES)
    finally:
        await connection.close()


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.exc_info is not None]


async def test_a_failure_that_is_no_outage_is_an_internal_error_with_its_request_id(
    make_client: ClientFactory, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client(database_url=postgres_url)
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")
    headers = {"X-Request-ID": REQUEST_ID}

    async with client.ws_connect(visitor_path(chatbot["slug"]), headers=headers) as visitor:
        await next_frame(visitor)
        await send_message(visitor, "hello", "c1")
        await message_frame(visitor, "bot")
        await _refuse_status_changes(postgres_url)
        caplog.clear()
        await visitor.send_json({"type": "handoff"})
        error = await frame_of_type(visitor, "error")
        await visitor.send_json({"type": "ping"})
        pong = await frame_of_type(visitor, "pong")

    assert error["code"] == "internal_error", error
    assert REQUEST_ID in error["message"]
    assert pong == {"type": "pong"}
    logged = _tracebacks(caplog)
    assert len(logged) == 1, [record.getMessage() for record in logged]
    assert REQUEST_ID in logged[0].getMessage()


async def test_the_operator_socket_maps_failures_the_same_way(
    make_client: ClientFactory, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client(database_url=postgres_url)
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")
    headers = {**tenant.headers, "X-Request-ID": REQUEST_ID}

    async with client.ws_connect(AGENT, headers=headers) as agent:
        await frame_of_type(agent, "auth_ok")
        async with client.ws_connect(visitor_path(chatbot["slug"])) as visitor:
            conversation_id = (await next_frame(visitor))["conversation_id"]
            await send_message(visitor, "hello", "c1")
            await message_frame(visitor, "bot")
        await _refuse_status_changes(postgres_url)
        caplog.clear()
        await agent.send_json({"type": "takeover", "conversation_id": conversation_id})
        error = await frame_of_type(agent, "error")
        await agent.send_json({"type": "ping"})
        pong = await frame_of_type(agent, "pong")

    assert error["code"] == "internal_error", error
    assert error["conversation_id"] == conversation_id
    assert REQUEST_ID in error["message"]
    assert pong == {"type": "pong"}
    assert len(_tracebacks(caplog)) == 1


async def test_a_handoff_while_the_database_is_down_is_unavailable(
    make_client: ClientFactory, postgres_url: str
) -> None:
    client = await make_client(database_url=postgres_url)
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")

    async with client.ws_connect(visitor_path(chatbot["slug"])) as visitor:
        await next_frame(visitor)
        await send_message(visitor, "hello", "c1")
        await message_frame(visitor, "bot")
        await drop_postgres_database(postgres_url)
        await visitor.send_json({"type": "handoff"})
        error = await frame_of_type(visitor, "error", timeout=20)

    assert error["code"] == "unavailable", error


async def test_a_refused_visitor_message_is_counted_once(make_client: ClientFactory) -> None:
    client = await make_client(rate_limits={"visitor_messages": "1/minute"})
    tenant = await register(client)
    chatbot = await create_chatbot(client, tenant, greeting="")

    async with client.ws_connect(visitor_path(chatbot["slug"])) as visitor:
        await next_frame(visitor)
        await send_message(visitor, "first", "c1")
        await message_frame(visitor, "visitor", client_id="c1")
        await send_message(visitor, "second", "c2")
        refused = await frame_of_type(visitor, "error")
    response = await client.get("/metrics")
    exposition = await response.text()

    assert refused["code"] == "rate_limited"
    counted = [
        found.value
        for family in text_string_to_metric_families(exposition)
        for found in family.samples
        if found.name == "chatbot_rate_limited_total"
        and found.labels.get("policy") == "visitor_messages"
    ]
    assert counted == [1.0]
