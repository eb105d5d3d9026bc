"""`GET /metrics`: Prometheus text per app, HTTP latency by route, sockets, chat, broker errors."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from aiohttp import web
from production_support import PASSWORD, frame_where, is_message, next_frame, sample

from chatbot import keys
from chatbot.metrics import METRICS

from conftest import AppClient, ClientFactory
from support import RedisServer

LATENCY_COUNT = "chatbot_http_request_duration_seconds_count"


async def _scrape(client: AppClient, **headers: str) -> str:
    response = await client.get("/metrics", headers=headers)
    assert response.status == 200, await response.text()
    assert response.content_type == "text/plain"
    return await response.text()


async def _register(client: AppClient) -> str:
    email = f"owner-{uuid.uuid4().hex[:10]}@example.com"
    response = await client.post("/auth/register/", json={"email": email, "password": PASSWORD})
    assert response.status == 201, await response.text()
    token: str = (await response.json())["access"]
    return token


async def _chatbot(client: AppClient, token: str) -> dict[str, Any]:
    response = await client.post(
        "/api/chatbots/",
        json={"name": "Metrics", "greeting": "", "brain": {"type": "echo"}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status == 201, await response.text()
    chatbot: dict[str, Any] = await response.json()
    return chatbot


async def test_metrics_are_served_in_prometheus_text_format(client: AppClient) -> None:
    text = await _scrape(client)
    for name in (
        "chatbot_http_request_duration_seconds",
        "chatbot_websockets_open",
        "chatbot_messages_in_total",
        "chatbot_messages_out_total",
        "chatbot_bot_answer_seconds",
        "chatbot_rate_limited_total",
        "chatbot_broker_errors_total",
    ):
        assert name in text, name
    assert sample(text, "chatbot_websockets_open", kind="visitor") == 0
    assert sample(text, "chatbot_websockets_open", kind="operator") == 0


async def test_http_latency_is_counted_by_route_template_and_status(client: AppClient) -> None:
    for path in ("/healthz", "/healthz/", "/readyz"):
        assert (await client.get(path)).status == 200
    text = await _scrape(client)
    assert sample(text, LATENCY_COUNT, method="GET", route="/healthz", status="200") == 2
    assert sample(text, LATENCY_COUNT, method="GET", route="/readyz", status="200") == 1
    assert "/healthz/" not in text  # both slash forms are one route


async def test_routes_with_ids_and_unknown_paths_keep_the_label_set_bounded(
    client: AppClient,
) -> None:
    token = await _register(client)
    headers = {"Authorization": f"Bearer {token}"}
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for chatbot_id in ids:
        assert (await client.get(f"/api/chatbots/{chatbot_id}/", headers=headers)).status == 404
        assert (await client.get(f"/no/such/{chatbot_id}")).status == 404
        assert (await client.request("PROPFIND", "/healthz")).status == 405
    text = await _scrape(client)
    assert sample(
        text, LATENCY_COUNT, method="GET", route="/api/chatbots/{chatbot_id}", status="404"
    ) == len(ids)
    assert sample(text, LATENCY_COUNT, method="GET", route="unmatched", status="404") == len(ids)
    assert sample(text, LATENCY_COUNT, method="other", route="unmatched", status="405") == len(ids)
    assert "PROPFIND" not in text
    assert not any(chatbot_id in text for chatbot_id in ids)


async def test_a_failing_request_is_counted_with_its_error_status(client: AppClient) -> None:
    response = await client.post("/auth/register/", data=b"{not json")
    assert response.status == 400
    text = await _scrape(client)
    assert sample(text, LATENCY_COUNT, method="POST", route="/auth/register", status="400") == 1


async def test_two_apps_in_one_process_keep_separate_registries(
    make_client: ClientFactory,
) -> None:
    first, second = await make_client(), await make_client()
    assert first.app is not None
    assert second.app is not None
    assert first.app[METRICS].registry is not second.app[METRICS].registry
    for _ in range(3):
        await first.get("/healthz")
    assert sample(await _scrape(first), LATENCY_COUNT, route="/healthz") == 3
    assert sample(await _scrape(second), LATENCY_COUNT, route="/healthz") == 0


async def test_metrics_need_the_token_when_one_is_configured(make_client: ClientFactory) -> None:
    client = await make_client(metrics_token="scrape-secret")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-secret"}):
        response = await client.get("/metrics", headers=headers)
        assert response.status == 401
        body = await response.json()
        assert body["error"]["code"] == "not_authenticated"
        assert "metrics_token" in body["error"]["message"]
    text = await _scrape(client, Authorization="Bearer scrape-secret")
    assert "chatbot_http_request_duration_seconds" in text


async def test_production_without_a_token_hides_the_metrics(make_client: ClientFactory) -> None:
    client = await make_client(env="production")
    for path in ("/metrics", "/metrics/"):
        response = await client.get(path)
        body = await response.json()
        assert response.status == 404, body
        assert body["error"]["code"] == "not_found"
        assert "CHATBOT_METRICS_TOKEN" in body["error"]["message"]
        assert "chatbot_" not in json.dumps(body)


async def test_production_with_a_token_serves_the_metrics_to_its_holder(
    make_client: ClientFactory,
) -> None:
    client = await make_client(env="production", metrics_token="scrape-secret")
    assert (await client.get("/metrics")).status == 401
    text = await _scrape(client, Authorization="Bearer scrape-secret")
    assert "chatbot_http_request_duration_seconds" in text


async def test_open_sockets_and_chat_messages_are_counted(client: AppClient) -> None:
    token = await _register(client)
    chatbot = await _chatbot(client, token)
    operator = await client.ws_connect(
        "/ws/chat/agent/", headers={"Authorization": f"Bearer {token}"}
    )
    assert (await next_frame(operator))["type"] == "auth_ok"
    visitor = await client.ws_connect(f"/ws/chat/public/{chatbot['slug']}/")
    assert (await next_frame(visitor))["type"] == "welcome"
    text = await _scrape(client)
    assert sample(text, "chatbot_websockets_open", kind="visitor") == 1
    assert sample(text, "chatbot_websockets_open", kind="operator") == 1

    for index in range(3):
        await visitor.send_json(
            {"type": "message", "text": f"hi {index}", "client_id": f"c{index}"}
        )
        await frame_where(visitor, is_message("bot", f"hi {index}"))
    text = await _scrape(client)
    assert sample(text, "chatbot_messages_in_total") == 3
    assert sample(text, "chatbot_messages_out_total") >= 6  # acks and answers at least
    assert sample(text, "chatbot_bot_answer_seconds_count") == 3

    await visitor.close()
    await operator.close()
    async with asyncio.timeout(5):
        while True:
            text = await _scrape(client)
            if sample(text, "chatbot_websockets_open", kind="visitor") == 0 and (
                sample(text, "chatbot_websockets_open", kind="operator") == 0
            ):
                break
            await asyncio.sleep(0.05)


async def test_a_socket_refused_before_the_upgrade_is_not_counted(client: AppClient) -> None:
    response = await client.get(
        "/ws/chat/public/no-such-bot/",
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert response.status == 404
    text = await _scrape(client)
    assert sample(text, "chatbot_websockets_open", kind="visitor") == 0


async def test_rate_limited_requests_are_counted_by_policy(make_client: ClientFactory) -> None:
    client = await make_client(rate_limits={"login_per_address": "2/minute"})
    body = {"email": "nobody@example.com", "password": "wrong password"}
    statuses = [(await client.post("/auth/login/", json=body)).status for _ in range(4)]
    assert statuses.count(429) == 2
    text = await _scrape(client)
    assert sample(text, "chatbot_rate_limited_total", policy="login_per_address") == 2


async def test_broker_errors_are_counted_while_redis_is_away(make_client: ClientFactory) -> None:
    redis = RedisServer()
    redis.start()
    try:
        client = await make_client(redis_url=redis.url)
        app: web.Application | None = client.app
        assert app is not None
        broker = app[keys.BROKER]
        await broker.subscribe("metrics-test")
        redis.stop()
        deadline = time.monotonic() + 10
        while sample(await _scrape(client), "chatbot_broker_errors_total") == 0:
            assert time.monotonic() < deadline, "no broker error counted with Redis down"
            await broker.publish("metrics-test", b"x")
            await asyncio.sleep(0.1)
        assert not broker.healthy
    finally:
        redis.stop()
