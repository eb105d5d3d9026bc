"""`/api/workspaces/{id}/api-keys/`: keys shown once, stored hashed, acting for one workspace."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest
from api_support import bearer, create_chatbot, error_of
from apikeys_support import Member, create_key, join, keys_path, listed, signup
from sqlalchemy import event, select

from chatbot import keys
from chatbot.storage.schema import api_keys

from conftest import AppClient, ClientFactory

pytestmark = pytest.mark.both_stacks


@pytest.fixture
async def api(make_client: ClientFactory) -> AppClient:
    return await make_client()


@pytest.fixture
async def owner(api: AppClient) -> Member:
    return await signup(api)


async def status_of(response: Any) -> int:
    await response.read()
    status: int = response.status
    return status


async def test_a_key_is_shown_once_listed_without_it_and_stored_as_its_hash(
    api: AppClient, owner: Member
) -> None:
    created = await create_key(api, owner, "CRM sync")
    key = created["key"]

    assert set(created) == {"id", "name", "key", "hint", "created_at", "last_used_at"}
    assert created["name"] == "CRM sync"
    assert key.startswith("cb_live_")
    assert len(key) >= 32
    assert created["hint"] == key[:12]
    assert created["last_used_at"] is None
    other = await create_key(api, owner, "Backups")
    assert other["key"] != key

    # Without its trailing slash too, as every route.
    response = await api.get(keys_path(owner.workspace_id).rstrip("/"), headers=owner.headers)
    text = await response.text()
    assert response.status == 200, text
    assert key not in text
    items = (await response.json())["items"]
    assert [item["name"] for item in items] == ["Backups", "CRM sync"]  # newest first
    assert items[1] == {name: created[name] for name in items[1]}
    assert set(items[1]) == {"id", "name", "hint", "created_at", "last_used_at"}

    async with api.app[keys.ENGINE].connect() as connection:
        rows = (await connection.execute(select(api_keys))).mappings().all()
    stored = {row["id"]: row for row in rows}
    assert stored[created["id"]]["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert not any(key in str(value) for row in rows for value in row.values())


async def test_a_deleted_key_stops_working_and_cannot_be_deleted_twice(
    api: AppClient, owner: Member
) -> None:
    created = await create_key(api, owner)
    kept = await create_key(api, owner, "Kept")
    assert await status_of(await api.get("/api/chatbots/", headers=bearer(created["key"]))) == 200

    item = keys_path(owner.workspace_id) + created["id"] + "/"
    response = await api.delete(item, headers=owner.headers)
    assert response.status == 204
    assert await response.read() == b""

    refused = await api.get("/api/chatbots/", headers=bearer(created["key"]))
    assert (await error_of(refused, 401))["code"] == "invalid_api_key"
    assert [entry["id"] for entry in await listed(api, owner)] == [kept["id"]]
    assert await status_of(await api.get("/api/chatbots/", headers=bearer(kept["key"]))) == 200
    again = await api.delete(item.rstrip("/"), headers=owner.headers)
    assert (await error_of(again, 404))["code"] == "api_key_not_found"


async def test_a_known_key_is_checked_without_reading_the_database(
    api: AppClient, owner: Member
) -> None:
    created = await create_key(api, owner)
    headers = bearer(created["key"])
    assert await status_of(await api.get("/api/chatbots/", headers=headers)) == 200
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = api.app[keys.ENGINE].sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        for _ in range(5):
            assert await status_of(await api.get("/api/chatbots/", headers=headers)) == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert statements, "the handler itself reads the chatbots"
    # (The background write of last_used_at may land meanwhile: only reads are looked for.)
    reads = [text for text in statements if text.lstrip().upper().startswith("SELECT")]
    assert not [text for text in reads if "api_keys" in text]


async def test_last_used_at_is_written_soon_after_a_use_and_not_on_every_request(
    api: AppClient, owner: Member
) -> None:
    created = await create_key(api, owner)
    headers = bearer(created["key"])
    assert await status_of(await api.get("/api/chatbots/", headers=headers)) == 200

    last_used: list[str | None] = [None]

    async def refresh() -> None:
        last_used[0] = (await listed(api, owner))[0]["last_used_at"]

    deadline = asyncio.get_running_loop().time() + 5
    while last_used[0] is None:
        assert asyncio.get_running_loop().time() < deadline, "last_used_at was never written"
        await asyncio.sleep(0.05)
        await refresh()
    assert last_used[0] >= created["created_at"]

    first = last_used[0]
    for _ in range(3):
        assert await status_of(await api.get("/api/chatbots/", headers=headers)) == 200
    await asyncio.sleep(0.3)
    await refresh()
    assert last_used[0] == first  # within the minute: not written again


async def test_a_key_acts_as_an_admin_of_its_own_workspace_only(
    api: AppClient, owner: Member
) -> None:
    stranger = await signup(api)
    theirs = await create_chatbot(api, stranger.headers, name="Theirs")
    ours = await create_chatbot(api, owner.headers, name="Ours")
    headers = bearer((await create_key(api, owner))["key"])

    made = await create_chatbot(api, headers, name="Made with a key")
    assert made["workspace_id"] == owner.workspace_id
    response = await api.get("/api/chatbots/", headers=headers)
    assert {bot["id"] for bot in (await response.json())["items"]} == {ours["id"], made["id"]}
    changed = await api.patch(
        f"/api/chatbots/{ours['id']}/", json={"name": "Renamed"}, headers=headers
    )
    assert changed.status == 200, await changed.text()
    entry = await api.post(
        f"/api/chatbots/{ours['id']}/knowledge/",
        json={"question": "Open on Sunday?", "answer": "No."},
        headers=headers,
    )
    assert entry.status == 201, await entry.text()
    assert await status_of(await api.get(keys_path(owner.workspace_id), headers=headers)) == 200
    workspaces = await (await api.get("/api/workspaces/", headers=headers)).json()
    assert [(w["id"], w["role"]) for w in workspaces["items"]] == [(owner.workspace_id, "admin")]
    another = await api.post("/api/workspaces/", json={"name": "Another"}, headers=headers)
    assert (await error_of(another, 403))["code"] == "forbidden"

    # Another workspace's things answer exactly as things that do not exist.
    for method, path, body in (
        ("GET", f"/api/chatbots/{theirs['id']}/", None),
        ("PATCH", f"/api/chatbots/{theirs['id']}/", {"name": "Mine now"}),
        ("DELETE", f"/api/chatbots/{theirs['id']}/", None),
        ("GET", f"/api/chatbots/{theirs['id']}/knowledge/", None),
        ("GET", f"/api/chatbots/{theirs['id']}/conversations/", None),
        ("GET", keys_path(stranger.workspace_id), None),
        ("POST", keys_path(stranger.workspace_id), {"name": "Escalate"}),
    ):
        response = await api.request(method, path, json=body, headers=headers)
        await error_of(response, 404)
    unchanged = await api.get(f"/api/chatbots/{theirs['id']}/", headers=stranger.headers)
    assert (await unchanged.json())["name"] == "Theirs"
    elsewhere = await api.post(
        "/api/chatbots/",
        json={"name": "Elsewhere", "workspace_id": stranger.workspace_id},
        headers=headers,
    )
    assert elsewhere.status in (403, 404), await elsewhere.text()


@pytest.mark.parametrize("path", ["/auth/me", "/auth/me/"])
async def test_a_key_answers_401_on_auth_routes(api: AppClient, owner: Member, path: str) -> None:
    headers = bearer((await create_key(api, owner))["key"])
    for method, body in (("GET", None), ("PATCH", {"name": "Key"})):
        response = await api.request(method, path, json=body, headers=headers)
        assert (await error_of(response, 401))["code"] == "api_key_not_accepted"
    password = await api.post(
        "/auth/password/",
        json={"current_password": "x" * 8, "new_password": "y" * 8},
        headers=headers,
    )
    assert (await error_of(password, 401))["code"] == "api_key_not_accepted"


# Who may manage a workspace's keys: (role, expected status of create, list, delete).
ROLES: list[tuple[str | None, int, int, int]] = [
    ("owner", 201, 200, 204),
    ("admin", 201, 200, 204),
    ("agent", 403, 403, 403),
    (None, 404, 404, 404),  # not a member: as if the workspace did not exist
]


@pytest.mark.parametrize(("role", "create", "read", "delete"), ROLES)
async def test_only_owners_and_admins_manage_keys(
    api: AppClient, owner: Member, role: str | None, create: int, read: int, delete: int
) -> None:
    caller = await signup(api)
    if role is not None:
        await join(api, caller, owner.workspace_id, role)
    existing = await create_key(api, owner)
    collection = keys_path(owner.workspace_id)

    created = await api.post(collection, json={"name": "Mine"}, headers=caller.headers)
    listed_ = await api.get(collection, headers=caller.headers)
    deleted = await api.delete(f"{collection}{existing['id']}/", headers=caller.headers)

    assert [created.status, listed_.status, deleted.status] == [create, read, delete]
    for response in (created, listed_, deleted):
        if response.status >= 400:
            error = await error_of(response, response.status)
            assert error["code"] == ("forbidden" if role else "workspace_not_found")


BAD_BODIES: list[tuple[str, Any, int, str]] = [
    ("not JSON", "{", 400, "invalid_json"),
    ("empty body", "", 400, "invalid_json"),
    ("a list", [], 422, "validation_error"),
    ("no name", {}, 422, "validation_error"),
    ("empty name", {"name": ""}, 422, "validation_error"),
    ("blank name", {"name": "   "}, 422, "validation_error"),
    ("name too long", {"name": "x" * 101}, 422, "validation_error"),
    ("name not text", {"name": 5}, 422, "validation_error"),
    ("name null", {"name": None}, 422, "validation_error"),
    ("NUL in name", {"name": "a\u0000b"}, 422, "validation_error"),
    ("unknown field", {"name": "ok", "scopes": ["all"]}, 422, "validation_error"),
]


@pytest.mark.parametrize(
    ("case", "body", "status", "code"), BAD_BODIES, ids=[case[0] for case in BAD_BODIES]
)
async def test_bad_bodies_get_the_contract_error(
    api: AppClient, owner: Member, case: str, body: Any, status: int, code: str
) -> None:
    path = keys_path(owner.workspace_id)
    if isinstance(body, str):
        headers = {**owner.headers, "Content-Type": "application/json"}
        response = await api.post(path, data=body, headers=headers)
    else:
        response = await api.post(path, json=body, headers=owner.headers)
    error = await error_of(response, status)
    assert error["code"] == code
    if status == 422 and isinstance(body, dict):
        assert error["fields"], error
    assert await listed(api, owner) == []


async def test_a_name_of_exactly_the_limit_is_kept_stripped(api: AppClient, owner: Member) -> None:
    created = await create_key(api, owner, " " + "é" * 99)
    assert created["name"] == "é" * 99


async def test_unknown_ids_and_bad_keys_get_clear_errors(api: AppClient, owner: Member) -> None:
    stranger = await signup(api)
    theirs = await create_key(api, stranger)
    ours = keys_path(owner.workspace_id)
    for path, code in (
        (keys_path("no-such-workspace"), "workspace_not_found"),
        (keys_path("x" * 300), "workspace_not_found"),
        (ours + "no-such-key/", "api_key_not_found"),
        (ours + "x" * 300 + "/", "api_key_not_found"),
        (ours + theirs["id"] + "/", "api_key_not_found"),  # another workspace's key
    ):
        method = "DELETE" if path.startswith(ours) else "GET"
        response = await api.request(method, path, headers=owner.headers)
        error = await error_of(response, 404)
        assert error["code"] == code, (path, error)
    assert await status_of(await api.get("/api/chatbots/", headers=bearer(theirs["key"]))) == 200

    for bad in ("cb_live_" + "A" * 43, "cb_live_", "cb_live_" + "A" * 5000):
        response = await api.get("/api/chatbots/", headers=bearer(bad))
        assert (await error_of(response, 401))["code"] == "invalid_api_key"


async def test_a_key_over_its_rate_limit_gets_429_with_retry_after(
    make_client: ClientFactory,
) -> None:
    api = await make_client(rate_limits={"per_api_key": "3/minute"})
    owner = await signup(api)
    limited = bearer((await create_key(api, owner))["key"])
    other = bearer((await create_key(api, owner, "Other"))["key"])

    statuses = [await status_of(await api.get("/api/chatbots/", headers=limited)) for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = await api.get("/api/chatbots/", headers=limited)
    error = await error_of(refused, 429)
    assert error["code"] == "rate_limited"
    assert "API key" in error["message"]
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    # The limit is the key's: another key and the account's own token are not held back.
    assert await status_of(await api.get("/api/chatbots/", headers=other)) == 200
    assert await status_of(await api.get("/api/chatbots/", headers=owner.headers)) == 200
