"""The webhook routes: create, list, read, enable, delete; every kind of bad input."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from api_support import error_of
from webhook_support import account, add_webhook

from conftest import AppClient, ClientFactory

PUBLIC_URL = "https://hooks.example.com/chat?token=abc"


def _path(workspace_id: str, rest: str = "") -> str:
    return f"/api/workspaces/{workspace_id}/webhooks/{rest}"


async def test_create_list_read_and_delete_in_both_slash_forms(client: AppClient) -> None:
    headers, workspace_id = await account(client)
    created = await add_webhook(
        client, headers, workspace_id, PUBLIC_URL, ["message.created", "message.created"]
    )
    assert set(created) >= {"id", "url", "events", "secret", "created_at"}
    assert created["url"] == PUBLIC_URL
    assert created["events"] == ["message.created"]  # a repeat counts once
    assert created["enabled"] is True
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"][6:], validate=True)) >= 24
    for path in (_path(workspace_id), _path(workspace_id).rstrip("/")):
        listed = await (await client.get(path, headers=headers)).json()
        assert listed == {"items": [created]}
    item = _path(workspace_id, created["id"] + "/")
    assert await (await client.get(item.rstrip("/"), headers=headers)).json() == created
    deliveries = await client.get(item + "deliveries", headers=headers)
    assert await deliveries.json() == {"items": []}
    assert (await client.delete(item.rstrip("/"), headers=headers)).status == 204
    assert (await client.delete(item, headers=headers)).status == 404
    listed = await (await client.get(_path(workspace_id), headers=headers)).json()
    assert listed == {"items": []}


BAD_BODIES: list[tuple[Any, str]] = [
    ({"events": ["message.created"]}, "url"),
    ({"url": PUBLIC_URL}, "events"),
    ({"url": PUBLIC_URL, "events": []}, "events"),
    ({"url": PUBLIC_URL, "events": ["message.deleted"]}, "events.0"),
    ({"url": PUBLIC_URL, "events": "message.created"}, "events"),
    ({"url": PUBLIC_URL, "events": [1]}, "events.0"),
    ({"url": "ftp://hooks.example.com/", "events": ["message.created"]}, "url"),
    ({"url": "hooks.example.com/chat", "events": ["message.created"]}, "url"),
    ({"url": "https://user:pw@hooks.example.com/", "events": ["message.created"]}, "url"),
    ({"url": "https://hooks.example.com/a b", "events": ["message.created"]}, "url"),
    ({"url": "https://", "events": ["message.created"]}, "url"),
    ({"url": "https://h.example.com/" + "a" * 2000, "events": ["message.created"]}, "url"),
    ({"url": 5, "events": ["message.created"]}, "url"),
    ({"url": None, "events": ["message.created"]}, "url"),
    ({"url": PUBLIC_URL, "events": ["message.created"], "secret": "whsec_x"}, "secret"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
async def test_invalid_fields_answer_422_naming_them(
    client: AppClient, body: Any, field: str
) -> None:
    headers, workspace_id = await account(client)
    response = await client.post(_path(workspace_id), json=body, headers=headers)
    error = await error_of(response, 422)
    assert error["code"] == "validation_error"
    assert field in [item["field"] for item in error["fields"]]


async def test_bodies_that_are_not_json_objects_answer_400_or_422(client: AppClient) -> None:
    headers, workspace_id = await account(client)
    for raw, status, code in (
        (b"", 400, "invalid_json"),
        (b"{not json", 400, "invalid_json"),
        (b"\xff\xfe", 400, "invalid_json"),
        (b"[1, 2]", 422, "validation_error"),
        (b'"text"', 422, "validation_error"),
    ):
        response = await client.post(
            _path(workspace_id),
            data=raw,
            headers={**headers, "Content-Type": "application/json"},
        )
        assert (await error_of(response, status))["code"] == code
    patch = await client.patch(
        _path(workspace_id, "nope"), json={"enabled": "yes"}, headers=headers
    )
    assert (await error_of(patch, 422))["code"] == "validation_error"
    query = await client.get(_path(workspace_id, "nope/deliveries/?limit=0"), headers=headers)
    assert (await error_of(query, 422))["code"] == "validation_error"


PRIVATE_URLS = [
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://0.0.0.0/hook",
    "http://[::]/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.1/hook",
    "http://169.254.169.254/latest",
    "http://2130706433/hook",
    "http://hooks.localhost/hook",
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
async def test_a_private_url_is_refused_unless_the_setting_allows_it(
    make_client: ClientFactory, url: str
) -> None:
    client = await make_client()
    headers, workspace_id = await account(client)
    body = {"url": url, "events": ["message.created"]}
    response = await client.post(_path(workspace_id), json=body, headers=headers)
    error = await error_of(response, 422)
    assert error["code"] == "url_not_allowed"
    assert "CHATBOT_WEBHOOKS__ALLOW_PRIVATE_TARGETS" in error["message"]
    await client.close()
    allowing = await make_client(webhooks={"allow_private_targets": True})
    response = await allowing.post(_path(workspace_id), json=body, headers=headers)
    assert response.status == 201


async def test_another_accounts_workspace_and_unknown_ids_answer_404(client: AppClient) -> None:
    headers, workspace_id = await account(client)
    other_headers, other_workspace = await account(client)
    webhook = await add_webhook(client, headers, workspace_id, PUBLIC_URL)
    delivery = await (
        await client.post(_path(workspace_id, f"{webhook['id']}/test/"), headers=headers)
    ).json()
    item = _path(workspace_id, webhook["id"] + "/")
    attempts = [
        ("GET", _path(workspace_id), None),
        ("POST", _path(workspace_id), {"url": PUBLIC_URL, "events": ["message.created"]}),
        ("GET", item, None),
        ("PATCH", item, {"enabled": False}),
        ("DELETE", item, None),
        ("POST", item + "test/", None),
        ("GET", item + "deliveries/", None),
        ("POST", item + f"deliveries/{delivery['id']}/retry/", None),
    ]
    for method, path, body in attempts:
        response = await client.request(method, path, json=body, headers=other_headers)
        await error_of(response, 404)
    # The owner's own unknown ids, and another workspace's webhook under the owner's path.
    other = await add_webhook(client, other_headers, other_workspace, PUBLIC_URL)
    for path in (
        _path(workspace_id, "unknown/"),
        _path(workspace_id, other["id"] + "/"),
        _path(workspace_id, other["id"] + "/deliveries/"),
    ):
        assert (await error_of(await client.get(path, headers=headers), 404))["code"] in {
            "webhook_not_found"
        }
    retry = await client.post(item + "deliveries/unknown/retry/", headers=headers)
    assert (await error_of(retry, 404))["code"] == "delivery_not_found"
    assert (await client.get(item, headers=headers)).status == 200  # untouched


async def test_a_workspace_has_at_most_the_configured_number_of_webhooks(
    make_client: ClientFactory,
) -> None:
    client = await make_client(webhooks={"max_per_workspace": 2})
    headers, workspace_id = await account(client)
    for _ in range(2):
        await add_webhook(client, headers, workspace_id, PUBLIC_URL)
    body = {"url": PUBLIC_URL, "events": ["message.created"]}
    response = await client.post(_path(workspace_id), json=body, headers=headers)
    assert (await error_of(response, 409))["code"] == "too_many_webhooks"


async def test_without_a_token_every_route_answers_401(client: AppClient) -> None:
    headers, workspace_id = await account(client)
    webhook = await add_webhook(client, headers, workspace_id, PUBLIC_URL)
    response = await client.get(_path(workspace_id, webhook["id"]))
    assert (await error_of(response, 401))["code"]
