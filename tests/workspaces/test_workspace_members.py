"""Workspaces, invitations and members through the REST API: the invitation round trip,
expired, reused and wrong-email tokens, role changes, removal and the last owner."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from api_support import error_of, register
from sqlalchemy import select
from workspace_support import Account, join, own_workspace, signup

from chatbot import keys
from chatbot.storage.schema import workspace_invitations
from chatbot.workspaces.roles import Role

from conftest import AppClient, ClientFactory

pytestmark = pytest.mark.both_stacks


@pytest.fixture
async def api(make_client: ClientFactory) -> AppClient:
    return await make_client(brains={"semantic": False})


async def _invite(
    api: AppClient, by: Account, workspace_id: str, email: str, role: str = "agent"
) -> dict[str, str]:
    response = await api.post(
        f"/api/workspaces/{workspace_id}/invitations/",
        json={"email": email, "role": role},
        headers=by.headers,
    )
    body: dict[str, str] = await response.json()
    assert response.status == 201, body
    return body


async def _accept(api: AppClient, account: Account, token: str) -> object:
    return await api.post(f"/api/invitations/{token}/accept/", headers=account.headers)


async def test_the_registration_workspace_is_listed_and_new_ones_are_owned(api: AppClient) -> None:
    alice = await signup(api, "Alice")

    listed = await (await api.get("/api/workspaces/", headers=alice.headers)).json()
    created = await api.post("/api/workspaces/", json={"name": " Team "}, headers=alice.headers)
    made = await created.json()
    after = await (await api.get("/api/workspaces/", headers=alice.headers)).json()

    assert listed == {
        "items": [
            {"id": await own_workspace(api, alice), "name": "Alice's workspace", "role": "owner"}
        ]
    }
    assert created.status == 201
    assert made == {"id": made["id"], "name": "Team", "role": "owner"}
    assert after["items"] == [*listed["items"], made]


async def test_an_invitation_round_trip_makes_the_invited_account_a_member(api: AppClient) -> None:
    alice = await signup(api, "Alice")
    workspace_id = await own_workspace(api, alice)
    bot = await (await api.post("/api/chatbots/", json={"name": "S"}, headers=alice.headers)).json()
    bob = await signup(api, "Bob")

    invitation = await _invite(api, alice, workspace_id, bob.email.upper(), "admin")
    pending = await (
        await api.get(f"/api/workspaces/{workspace_id}/invitations/", headers=alice.headers)
    ).json()
    accepted = await _accept(api, bob, invitation["token"])

    assert invitation["email"] == bob.email  # stored as the account would be: lowercased
    assert invitation["role"] == "admin"
    assert len(invitation["token"]) >= 32
    assert invitation["accept_url"].endswith(f"/dashboard/invitations/{invitation['token']}/")
    expires = datetime.fromisoformat(invitation["expires_at"])
    assert 6.9 * 86_400 < (expires - datetime.now(expires.tzinfo)).total_seconds() <= 7 * 86_400
    assert [item["id"] for item in pending["items"]] == [invitation["id"]]
    assert "token" not in pending["items"][0]
    assert accepted.status == 200
    assert await accepted.json() == {
        "workspace": {"id": workspace_id, "name": "Alice's workspace", "role": "admin"}
    }
    roles = await (await api.get("/api/workspaces/", headers=bob.headers)).json()
    assert {item["id"]: item["role"] for item in roles["items"]}[workspace_id] == "admin"
    read = await api.get(f"/api/chatbots/{bot['id']}/", headers=bob.headers)
    assert read.status == 200
    listed = await (
        await api.get(f"/api/workspaces/{workspace_id}/members/", headers=bob.headers)
    ).json()
    assert [(item["user"]["email"], item["role"]) for item in listed["items"]] == [
        (alice.email, "owner"),
        (bob.email, "admin"),
    ]
    assert set(listed["items"][0]["user"]) == {"id", "email", "name", "created_at"}
    pending_after = await (
        await api.get(f"/api/workspaces/{workspace_id}/invitations/", headers=alice.headers)
    ).json()
    assert pending_after["items"] == []


async def test_the_token_is_stored_only_as_its_hash(api: AppClient) -> None:
    alice = await signup(api, "Alice")
    invitation = await _invite(api, alice, await own_workspace(api, alice), "x@example.com")

    async with api.app[keys.ENGINE].connect() as connection:
        stored = (await connection.execute(select(workspace_invitations))).one()

    assert invitation["token"] not in {str(value) for value in stored}
    assert len(stored.token_hash) == 64


async def test_a_used_token_answers_404_even_to_its_addressee(api: AppClient) -> None:
    alice, bob = await signup(api, "Alice"), await signup(api, "Bob")
    invitation = await _invite(api, alice, await own_workspace(api, alice), bob.email)
    assert (await _accept(api, bob, invitation["token"])).status == 200

    again = await _accept(api, bob, invitation["token"])

    assert (await error_of(again, 404))["code"] == "invitation_not_found"


async def test_a_token_for_another_email_answers_404_and_stays_usable(api: AppClient) -> None:
    alice, bob, mallory = [await signup(api, name) for name in ("Alice", "Bob", "Mallory")]
    workspace_id = await own_workspace(api, alice)
    invitation = await _invite(api, alice, workspace_id, bob.email)

    stolen = await _accept(api, mallory, invitation["token"])
    unknown = await _accept(api, mallory, "not-a-token")

    stolen_error = await error_of(stolen, 404)
    assert stolen_error == await error_of(unknown, 404)  # no hint that the token exists
    mallorys = await (await api.get("/api/workspaces/", headers=mallory.headers)).json()
    assert workspace_id not in {item["id"] for item in mallorys["items"]}
    assert (await _accept(api, bob, invitation["token"])).status == 200


async def test_an_expired_token_answers_404(make_client: ClientFactory) -> None:
    # One second of validity.
    api = await make_client(workspaces={"invitation_ttl_hours": 1 / 3600})
    alice, bob = await signup(api, "Alice"), await signup(api, "Bob")
    invitation = await _invite(api, alice, await own_workspace(api, alice), bob.email)
    await asyncio.sleep(1.2)

    expired = await _accept(api, bob, invitation["token"])

    assert (await error_of(expired, 404))["code"] == "invitation_not_found"
    pending = await (
        await api.get(
            f"/api/workspaces/{await own_workspace(api, alice)}/invitations/",
            headers=alice.headers,
        )
    ).json()
    assert pending["items"] == []


async def test_a_withdrawn_invitation_cannot_be_accepted(api: AppClient) -> None:
    alice, bob = await signup(api, "Alice"), await signup(api, "Bob")
    workspace_id = await own_workspace(api, alice)
    invitation = await _invite(api, alice, workspace_id, bob.email)

    withdrawn = await api.delete(
        f"/api/workspaces/{workspace_id}/invitations/{invitation['id']}/", headers=alice.headers
    )
    again = await api.delete(
        f"/api/workspaces/{workspace_id}/invitations/{invitation['id']}/", headers=alice.headers
    )

    assert withdrawn.status == 204
    assert (await error_of(again, 404))["code"] == "invitation_not_found"
    assert (await error_of(await _accept(api, bob, invitation["token"]), 404))["code"] == (
        "invitation_not_found"
    )


async def test_an_invitation_never_demotes_a_member(api: AppClient) -> None:
    alice, bob = await signup(api, "Alice"), await signup(api, "Bob")
    workspace_id = await own_workspace(api, alice)
    await join(api, workspace_id, bob, Role.ADMIN)
    invitation = await _invite(api, alice, workspace_id, bob.email, "agent")

    accepted = await _accept(api, bob, invitation["token"])

    assert (await accepted.json())["workspace"]["role"] == "admin"


async def test_the_last_owner_can_be_neither_demoted_nor_removed(api: AppClient) -> None:
    alice, bob = await signup(api, "Alice"), await signup(api, "Bob")
    workspace_id = await own_workspace(api, alice)
    await join(api, workspace_id, bob, Role.ADMIN)
    alice_path = f"/api/workspaces/{workspace_id}/members/{alice.user['id']}/"
    bob_path = f"/api/workspaces/{workspace_id}/members/{bob.user['id']}/"

    demoted = await api.patch(alice_path, json={"role": "admin"}, headers=alice.headers)
    removed_by_admin = await api.delete(alice_path, headers=bob.headers)
    promoted = await api.patch(bob_path, json={"role": "owner"}, headers=alice.headers)
    stepped_down = await api.patch(alice_path, json={"role": "agent"}, headers=bob.headers)
    bob_alone = await api.delete(bob_path, headers=bob.headers)

    for refused in (demoted, removed_by_admin, bob_alone):
        error = await error_of(refused, 409)
        assert error["code"] == "last_owner"
        assert "owner" in error["message"]
    assert promoted.status == 200
    assert (await promoted.json())["role"] == "owner"
    assert stepped_down.status == 200
    assert await stepped_down.json() == {
        "user": {**alice.user},
        "role": "agent",
    }


async def test_a_removed_member_loses_access_at_once_on_every_instance(
    make_client: ClientFactory,
) -> None:
    # Two instances of the app on one database (and one Redis on the PostgreSQL stack).
    one, two = await make_client(), await make_client()
    alice, bob = await signup(one, "Alice"), await signup(one, "Bob")
    workspace_id = await own_workspace(one, alice)
    bot = await (await one.post("/api/chatbots/", json={"name": "S"}, headers=alice.headers)).json()
    invitation = await _invite(one, alice, workspace_id, bob.email)
    assert (await _accept(two, bob, invitation["token"])).status == 200
    assert (await two.get(f"/api/chatbots/{bot['id']}/", headers=bob.headers)).status == 200
    renamed = await two.patch(
        f"/api/chatbots/{bot['id']}/", json={"name": "By Bob"}, headers=bob.headers
    )
    assert (await error_of(renamed, 403))["code"] == "forbidden"

    promoted = await one.patch(
        f"/api/workspaces/{workspace_id}/members/{bob.user['id']}/",
        json={"role": "admin"},
        headers=alice.headers,
    )
    assert promoted.status == 200
    renamed = await two.patch(
        f"/api/chatbots/{bot['id']}/", json={"name": "By Bob"}, headers=bob.headers
    )
    assert renamed.status == 200

    removed = await one.delete(
        f"/api/workspaces/{workspace_id}/members/{bob.user['id']}/", headers=alice.headers
    )
    assert removed.status == 204
    gone = await two.get(f"/api/chatbots/{bot['id']}/", headers=bob.headers)
    assert (await error_of(gone, 404))["code"] == "chatbot_not_found"
    members = await two.get(f"/api/workspaces/{workspace_id}/members/", headers=bob.headers)
    assert (await error_of(members, 404))["code"] == "workspace_not_found"
    listed = await (await two.get("/api/chatbots/", headers=bob.headers)).json()
    assert listed["items"] == []


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"email": "not-an-email", "role": "agent"}, 422, "email"),
        ({"email": "a@example.com", "role": "boss"}, 422, "role"),
        ({"role": "agent"}, 422, "email"),
        ({"email": "a@example.com", "role": "agent", "extra": 1}, 422, "extra"),
        ({"email": 5, "role": "agent"}, 422, "email"),
        ("not json", 400, None),
    ],
)
async def test_bad_invitations_are_refused_with_the_contracts_errors(
    api: AppClient, body: object, status: int, field: str | None
) -> None:
    alice = await signup(api, "Alice")
    path = f"/api/workspaces/{await own_workspace(api, alice)}/invitations/"

    if isinstance(body, str):
        response = await api.post(path, data=body, headers=alice.headers)
    else:
        response = await api.post(path, json=body, headers=alice.headers)

    error = await error_of(response, status)
    if field is not None:
        assert error["code"] == "validation_error"
        assert field in error["message"]
    else:
        assert error["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/workspaces/", {"name": ""}, 422),
        ("/api/workspaces/", {"name": "   "}, 422),
        ("/api/workspaces/", {"name": "x" * 201}, 422),
        ("/api/workspaces/", {}, 422),
        ("/api/workspaces/", {"name": None}, 422),
        ("members", {"role": "root"}, 422),
        ("members", {}, 422),
        ("members", [], 422),
    ],
)
async def test_bad_workspace_and_member_bodies_are_refused(
    api: AppClient, path: str, body: object, status: int
) -> None:
    alice, bob = await signup(api, "Alice"), await signup(api, "Bob")
    workspace_id = await own_workspace(api, alice)
    await join(api, workspace_id, bob, Role.AGENT)
    if path == "members":
        response = await api.patch(
            f"/api/workspaces/{workspace_id}/members/{bob.user['id']}/",
            json=body,
            headers=alice.headers,
        )
    else:
        response = await api.post(path, json=body, headers=alice.headers)

    assert (await error_of(response, status))["code"] == "validation_error"


async def test_acting_on_someone_who_is_not_a_member_answers_404(api: AppClient) -> None:
    alice, bob = await signup(api, "Alice"), await signup(api, "Bob")
    workspace_id = await own_workspace(api, alice)
    path = f"/api/workspaces/{workspace_id}/members/{bob.user['id']}/"

    changed = await api.patch(path, json={"role": "admin"}, headers=alice.headers)
    removed = await api.delete(path, headers=alice.headers)

    assert (await error_of(changed, 404))["code"] == "member_not_found"
    assert (await error_of(removed, 404))["code"] == "member_not_found"


async def test_a_new_account_owns_only_its_own_workspace(api: AppClient) -> None:
    body = await register(api, name="")
    headers = {"Authorization": f"Bearer {body['access']}"}

    listed = await (await api.get("/api/workspaces/", headers=headers)).json()

    assert len(listed["items"]) == 1
    assert listed["items"][0]["role"] == "owner"
    assert listed["items"][0]["name"] == body["user"]["email"].split("@")[0] + "'s workspace"
