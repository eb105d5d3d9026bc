"""The role matrix: owner, admin, agent and non-member against every REST route.

The expected status of each (route, role) comes from one table, EXPECTED. The test walks the
app's route table: a protected route under /api/ or /v1/ missing from EXPECTED fails the run,
naming it,
so that a new route gets its row (and its policy) when it is added.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import FormData
from api_support import error_of
from visitor_support import visitor_says
from workspace_support import Account, join, own_workspace, signup

from chatbot import keys
from chatbot.openapi.generator import openapi_path
from chatbot.workspaces.roles import Role

from conftest import AppClient, ClientFactory

pytestmark = pytest.mark.both_stacks

ROLES = ("owner", "admin", "agent", "outsider")


def _upload() -> FormData:
    form = FormData()
    form.add_field("file", b"Opening hours are 9 to 5.", filename="hours.txt")
    return form


def _codes(owner: int, admin: int, agent: int, outsider: int) -> dict[str, int]:
    return dict(zip(ROLES, (owner, admin, agent, outsider), strict=True))


READ = _codes(200, 200, 200, 404)
CHANGE = _codes(200, 200, 403, 404)
CREATE = _codes(201, 201, 403, 404)
DELETE = _codes(204, 204, 403, 404)
MANAGE_READ = _codes(200, 200, 403, 404)
ACCEPTED = _codes(202, 202, 403, 404)
# A public address (never called: the matrix only reads the answers).
HOOK_URL = "https://hooks.example.com/chat"

# (method, path as documented): (body, expected status per role). Path parameters are filled
# from a fresh workspace for every call; a body may be a callable (a multipart form).
EXPECTED: dict[tuple[str, str], tuple[Any, dict[str, int]]] = {
    ("GET", "/api/workspaces/"): (None, _codes(200, 200, 200, 200)),
    ("POST", "/api/workspaces/"): ({"name": "Another"}, _codes(201, 201, 201, 201)),
    ("GET", "/api/workspaces/{workspace_id}/"): (None, READ),
    ("GET", "/api/workspaces/{workspace_id}/members/"): (None, READ),
    ("PATCH", "/api/workspaces/{workspace_id}/members/{user_id}/"): ({"role": "admin"}, CHANGE),
    ("DELETE", "/api/workspaces/{workspace_id}/members/{user_id}/"): (None, DELETE),
    ("POST", "/api/workspaces/{workspace_id}/invitations/"): (
        {"email": "someone@example.com", "role": "agent"},
        CREATE,
    ),
    ("GET", "/api/workspaces/{workspace_id}/invitations/"): (None, MANAGE_READ),
    ("DELETE", "/api/workspaces/{workspace_id}/invitations/{invitation_id}/"): (None, DELETE),
    # The token was sent to another address: nobody here may use it.
    ("POST", "/api/invitations/{token}/accept/"): (None, _codes(404, 404, 404, 404)),
    ("GET", "/api/chatbots/"): (None, _codes(200, 200, 200, 200)),
    ("POST", "/api/chatbots/"): ({"name": "New", "workspace_id": "{workspace_id}"}, CREATE),
    ("GET", "/api/chatbots/{chatbot_id}/"): (None, READ),
    ("PATCH", "/api/chatbots/{chatbot_id}/"): ({"name": "Renamed"}, CHANGE),
    ("DELETE", "/api/chatbots/{chatbot_id}/"): (None, DELETE),
    ("GET", "/api/chatbots/{chatbot_id}/knowledge/"): (None, READ),
    ("POST", "/api/chatbots/{chatbot_id}/knowledge/"): ({"question": "Q?", "answer": "A."}, CREATE),
    ("POST", "/api/chatbots/{chatbot_id}/knowledge/upload/"): (_upload, CREATE),
    ("POST", "/api/chatbots/{chatbot_id}/knowledge/test/"): ({"question": "Open?"}, READ),
    ("GET", "/api/chatbots/{chatbot_id}/knowledge/{entry_id}/"): (None, READ),
    ("PATCH", "/api/chatbots/{chatbot_id}/knowledge/{entry_id}/"): ({"answer": "B."}, CHANGE),
    ("DELETE", "/api/chatbots/{chatbot_id}/knowledge/{entry_id}/"): (None, DELETE),
    ("GET", "/api/chatbots/{chatbot_id}/conversations/"): (None, READ),
    ("GET", "/api/conversations/{conversation_id}/messages/"): (None, READ),
    # Agents work the Inbox: assigning is theirs too.
    ("PATCH", "/api/conversations/{conversation_id}/"): ({"assignee_id": None}, READ),
    ("GET", "/api/workspaces/{workspace_id}/presence/"): (None, READ),
    ("POST", "/api/workspaces/{workspace_id}/api-keys/"): ({"name": "CRM sync"}, CREATE),
    ("GET", "/api/workspaces/{workspace_id}/api-keys/"): (None, MANAGE_READ),
    ("DELETE", "/api/workspaces/{workspace_id}/api-keys/{key_id}/"): (None, DELETE),
    ("POST", "/api/chatbots/{chatbot_id}/identity-secret/"): (None, CHANGE),
    ("GET", "/api/chatbots/{chatbot_id}/usage/"): (None, READ),
    # A visitor's data is for those who may manage the workspace.
    ("GET", "/api/chatbots/{chatbot_id}/visitors/{visitor_id}/export/"): (None, MANAGE_READ),
    ("DELETE", "/api/chatbots/{chatbot_id}/visitors/{visitor_id}/"): (None, DELETE),
    # Everyone lists the models of their own workspaces; agents may talk to them too.
    ("GET", "/v1/models/"): (None, _codes(200, 200, 200, 200)),
    ("POST", "/v1/chat/completions/"): (
        {"model": "{slug}", "messages": [{"role": "user", "content": "Hello"}]},
        READ,
    ),
    ("POST", "/api/workspaces/{workspace_id}/webhooks/"): (
        {"url": HOOK_URL, "events": ["message.created"]},
        CREATE,
    ),
    ("GET", "/api/workspaces/{workspace_id}/webhooks/"): (None, MANAGE_READ),
    ("GET", "/api/workspaces/{workspace_id}/webhooks/{webhook_id}/"): (None, MANAGE_READ),
    ("PATCH", "/api/workspaces/{workspace_id}/webhooks/{webhook_id}/"): (
        {"enabled": True},
        CHANGE,
    ),
    ("DELETE", "/api/workspaces/{workspace_id}/webhooks/{webhook_id}/"): (None, DELETE),
    ("POST", "/api/workspaces/{workspace_id}/webhooks/{webhook_id}/test/"): (None, ACCEPTED),
    ("GET", "/api/workspaces/{workspace_id}/webhooks/{webhook_id}/deliveries/"): (
        None,
        MANAGE_READ,
    ),
    (
        "POST",
        "/api/workspaces/{workspace_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry/",
    ): (None, ACCEPTED),
}


@dataclass
class Team:
    """One workspace's people: its owner, an admin, an agent, a member to act on, and an
    outsider (who owns a workspace of their own)."""

    owner: Account
    admin: Account
    agent: Account
    target: Account
    outsider: Account
    workspace_id: str

    def as_role(self, role: str) -> Account:
        accounts: dict[str, Account] = {
            "owner": self.owner,
            "admin": self.admin,
            "agent": self.agent,
            "outsider": self.outsider,
        }
        return accounts[role]


@pytest.fixture
async def api(make_client: ClientFactory) -> AppClient:
    return await make_client(brains={"semantic": False})


@pytest.fixture
async def team(api: AppClient) -> Team:
    owner, admin, agent, target, outsider = [
        await signup(api, name) for name in ("Owner", "Admin", "Agent", "Target", "Outsider")
    ]
    workspace_id = await own_workspace(api, owner)
    await join(api, workspace_id, admin, Role.ADMIN)
    await join(api, workspace_id, agent, Role.AGENT)
    await join(api, workspace_id, target, Role.AGENT)
    return Team(owner, admin, agent, target, outsider, workspace_id)


async def _created(api: AppClient, account: Account, path: str, body: Any) -> dict[str, Any]:
    response = await api.post(path, json=body, headers=account.headers)
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


async def _fresh_ids(api: AppClient, team: Team, template: str) -> dict[str, str]:
    """New objects for the path's parameters, so that one role's change never hides the next
    role's answer; a removed target member is made a member again."""
    ids = {"workspace_id": team.workspace_id, "user_id": team.target.user["id"]}
    owner = team.owner
    if "{user_id}" in template:
        # Back to a plain agent (an earlier call may have promoted or removed them).
        await api.delete(
            f"/api/workspaces/{team.workspace_id}/members/{ids['user_id']}/", headers=owner.headers
        )
        await join(api, team.workspace_id, team.target, Role.AGENT)
    if "{invitation_id}" in template or "{token}" in template:
        invitation = await _created(
            api,
            owner,
            f"/api/workspaces/{team.workspace_id}/invitations/",
            {"email": f"{uuid.uuid4().hex[:8]}@example.com", "role": "agent"},
        )
        ids["invitation_id"], ids["token"] = invitation["id"], invitation["token"]
    if "{key_id}" in template:
        key = await _created(
            api, owner, f"/api/workspaces/{team.workspace_id}/api-keys/", {"name": "Fresh"}
        )
        ids["key_id"] = key["id"]
    if "{webhook_id}" in template:
        ids.update(await _fresh_webhook(api, team))
    if any(name in template for name in ("{chatbot_id}", "{conversation_id}", "{slug}")):
        bot = await _created(api, owner, "/api/chatbots/", {"name": "Bot", "greeting": ""})
        ids["chatbot_id"], ids["slug"] = bot["id"], bot["slug"]
        if "{entry_id}" in template:
            entry = await _created(
                api,
                owner,
                f"/api/chatbots/{bot['id']}/knowledge/",
                {"question": "When are you open?", "answer": "9 to 5."},
            )
            ids["entry_id"] = entry["id"]
        if "{conversation_id}" in template or "{visitor_id}" in template:
            ids["conversation_id"] = await visitor_says(api, bot["slug"], ["hello"])
        if "{visitor_id}" in template:
            listed = await api.get(
                f"/api/chatbots/{bot['id']}/conversations/", headers=owner.headers
            )
            ids["visitor_id"] = (await listed.json())["items"][0]["visitor_id"]
    return ids


async def _fresh_webhook(api: AppClient, team: Team) -> dict[str, str]:
    """A new webhook with one delivery (a test event); the earlier ones are deleted so that
    the workspace stays under its cap of webhooks."""
    owner = team.owner
    hooks = f"/api/workspaces/{team.workspace_id}/webhooks/"
    listed = await (await api.get(hooks, headers=owner.headers)).json()
    for item in listed["items"]:
        await api.delete(f"{hooks}{item['id']}/", headers=owner.headers)
    webhook = await _created(api, owner, hooks, {"url": HOOK_URL, "events": ["message.created"]})
    response = await api.post(f"{hooks}{webhook['id']}/test/", headers=owner.headers)
    assert response.status == 202, await response.text()
    delivery = await response.json()
    return {"webhook_id": webhook["id"], "delivery_id": delivery["id"]}


def _filled(body: Any, ids: dict[str, str]) -> Any:
    if isinstance(body, dict):
        return {key: _filled(value, ids) for key, value in body.items()}
    if isinstance(body, list):
        return [_filled(value, ids) for value in body]
    if isinstance(body, str):
        return body.format(**ids)
    return body


async def _call(api: AppClient, account: Account, method: str, path: str, body: Any) -> Any:
    if callable(body):
        return await api.request(method, path, data=body(), headers=account.headers)
    return await api.request(method, path, json=body, headers=account.headers)


def _workspace_routes(api: AppClient) -> list[tuple[str, str]]:
    return [
        (route.method, openapi_path(route.path))
        for route in api.app[keys.ROUTES].routes
        if route.path.startswith(("/api/", "/v1/")) and not route.public
    ]


async def test_every_api_route_has_a_row_in_the_role_matrix(api: AppClient) -> None:
    registered = _workspace_routes(api)
    unlisted = [f"{method} {path}" for method, path in registered if (method, path) not in EXPECTED]
    stale = [f"{method} {path}" for method, path in EXPECTED if (method, path) not in registered]

    assert not unlisted, (
        f"routes missing from the role matrix: {unlisted}; add each to EXPECTED in "
        "tests/workspaces/test_role_matrix.py with the status every role must get"
    )
    assert not stale, f"the role matrix names routes the app does not have: {stale}"


async def test_each_role_gets_the_expected_status_on_every_route(
    api: AppClient, team: Team
) -> None:
    wrong: list[str] = []
    for method, template in _workspace_routes(api):
        body, expected = EXPECTED[(method, template)]
        for role in ROLES:
            # The body may name objects too (a model's slug).
            ids = await _fresh_ids(api, team, template + str(body))
            path = template.format(**ids)
            response = await _call(api, team.as_role(role), method, path, _filled(body, ids))
            if response.status != expected[role]:
                wrong.append(
                    f"{role} {method} {template}: {response.status}, expected "
                    f"{expected[role]} ({await response.text()})"
                )
                continue
            if response.status == 403:
                assert (await error_of(response, 403))["code"] == "forbidden"
            elif response.status == 404:
                assert (await error_of(response, 404))["code"].endswith("not_found")

    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    "change",
    [
        lambda ids: ("PATCH", f"/api/chatbots/{ids['chatbot_id']}/", {"name": "Gone"}),
        lambda ids: ("DELETE", f"/api/chatbots/{ids['chatbot_id']}/", None),
    ],
    ids=["rename", "delete"],
)
async def test_a_refused_change_changes_nothing(
    api: AppClient, team: Team, change: Callable[[dict[str, str]], tuple[str, str, Any]]
) -> None:
    ids = await _fresh_ids(api, team, "{chatbot_id}")
    before = await (
        await api.get(f"/api/chatbots/{ids['chatbot_id']}/", headers=team.owner.headers)
    ).json()
    method, path, body = change(ids)

    for account in (team.agent, team.outsider):
        refused = await api.request(method, path, json=body, headers=account.headers)
        assert refused.status in {403, 404}

    after = await (
        await api.get(f"/api/chatbots/{ids['chatbot_id']}/", headers=team.owner.headers)
    ).json()
    assert after == before
