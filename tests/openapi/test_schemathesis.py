"""Schemathesis against the served OpenAPI document of a real `chatbot serve` process.

It generates requests from the document (valid and invalid, bounded in number), sends them
with a real access token, and checks every answer: no 500s, statuses, headers and bodies as
documented, invalid input refused, protected routes refusing missing or bad tokens. It must
also end without warnings: each operation on one resource is given a seeded one's ids, so its
requests reach the logic behind the route instead of stopping at a 404.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from schemathesis.config import SchemathesisWarning

from conftest import TEST_SECRET_KEY
from support import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.both_stacks]

SCHEMATHESIS = Path(sys.executable).parent / "st"
GENEROUS = "100000/minute"


@pytest.fixture
async def server(
    tmp_path: Path, stack: dict[str, str], redis_prefix: str
) -> AsyncIterator[ServerProcess]:
    (tmp_path / "none.yaml").write_text("{}\n")
    process = ServerProcess(
        {
            "CHATBOT_DATABASE_URL": stack["database_url"],
            "CHATBOT_REDIS_URL": stack["redis_url"],
            "CHATBOT_REDIS_PREFIX": redis_prefix,
            "CHATBOT_CONFIG": str(tmp_path / "none.yaml"),
            "CHATBOT_SECRET_KEY": TEST_SECRET_KEY,
            "CHATBOT_ACCESS_LOG": "false",
            # Generous limits: the run is about the API's answers, not about being throttled.
            "CHATBOT_RATE_LIMITS__PER_ADDRESS": GENEROUS,
            "CHATBOT_RATE_LIMITS__LOGIN_PER_ADDRESS": GENEROUS,
            "CHATBOT_RATE_LIMITS__LOGIN_PER_ACCOUNT": GENEROUS,
            "CHATBOT_RATE_LIMITS__LOGIN_FAILURES_PER_ACCOUNT_ADDRESS": GENEROUS,
            "CHATBOT_RATE_LIMITS__REGISTER_PER_ADDRESS": GENEROUS,
            # Whether a base_url's host is public is no schema rule (it may take a DNS lookup),
            # so generated URLs such as http://[::afd:97d:93:e8bd:85:e] would be valid requests
            # refused; tests/chatbots/test_chatbot_base_url_policy.py covers that rule.
            "CHATBOT_BRAINS__ALLOW_PRIVATE_BASE_URLS": "true",
            # The same for a webhook's URL (tests/webhooks covers that rule).
            "CHATBOT_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true",
        },
        cwd=tmp_path,
    )
    process.start(tmp_path / "server.log")
    try:
        await process.wait_ready()
        yield process
    finally:
        process.stop()


@dataclass(frozen=True)
class Seed:
    """One of each resource, so generated requests reach real ones instead of a 404."""

    chatbot_id: str
    entry_id: str
    conversation_id: str
    visitor_id: str
    workspace_id: str
    webhook_id: str
    delivery_id: str
    user_id: str
    invitation_token: str


async def seed(base_url: str, token: str) -> Seed:
    """A chatbot with one knowledge entry and one conversation, made as their owners make them.

    The REST API cannot create conversations, so the visitor's message goes over the socket.
    """
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        response = await session.post(
            base_url + "/api/chatbots/", json={"name": "Seeded", "brain": {"type": "echo"}}
        )
        chatbot = await response.json()
        assert response.status == 201, chatbot
        response = await session.post(
            base_url + f"/api/chatbots/{chatbot['id']}/knowledge/",
            json={"question": "When are you open?", "answer": "Every day from nine to five."},
        )
        entry = await response.json()
        assert response.status == 201, entry
        url = base_url.replace("http", "ws", 1) + f"/ws/chat/public/{chatbot['slug']}/"
        async with session.ws_connect(url) as socket:
            welcome = await socket.receive_json(timeout=10)
            await socket.send_json({"type": "message", "text": "Hello", "client_id": "seed"})
            while True:
                frame = await socket.receive_json(timeout=10)
                if frame["type"] == "message" and frame["message"]["role"] == "bot":
                    break
        me = await (await session.get(base_url + "/auth/me/")).json()
        listed = await (await session.get(base_url + "/api/workspaces/")).json()
        workspace_id = next(w["id"] for w in listed["items"] if w["role"] == "owner")
        assert workspace_id == chatbot["workspace_id"], (listed, chatbot)
        # Addressed to the account itself: accepting it keeps the role it has (owner).
        response = await session.post(
            base_url + f"/api/workspaces/{workspace_id}/invitations/",
            json={"email": me["email"], "role": "agent"},
        )
        invitation = await response.json()
        assert response.status == 201, invitation
        hooks = base_url + f"/api/workspaces/{workspace_id}/webhooks/"
        response = await session.post(
            hooks, json={"url": "https://hooks.example.com/chat", "events": ["message.created"]}
        )
        webhook = await response.json()
        assert response.status == 201, webhook
        response = await session.post(hooks + f"{webhook['id']}/test/")
        delivery = await response.json()
        assert response.status == 202, delivery
        return Seed(
            chatbot["id"],
            entry["id"],
            welcome["conversation_id"],
            welcome["visitor_id"],
            workspace_id,
            webhook["id"],
            delivery["id"],
            me["id"],
            invitation["token"],
        )


# Every warning schemathesis shows by default but "missing test data" and, with it,
# "validation mismatch": schemathesis checks the two together and, when an operation shows the
# second, shows the first as the whole run's config says. A DELETE has no body to validate, and
# answers a malformed id as it answers an unknown one: 404. (low_valid_rate is opt-in.)
DELETE_WARNINGS = [
    warning.value
    for warning in SchemathesisWarning
    if warning
    not in {
        SchemathesisWarning.MISSING_TEST_DATA,
        SchemathesisWarning.VALIDATION_MISMATCH,
        SchemathesisWarning.LOW_VALID_RATE,
    }
]

# DELETE requests never take ids from earlier answers (schemathesis reuses the ids it has seen),
# so they cannot delete the seeded resources the other operations are given. Their generated ids
# then find only 404s, which is right, so "missing test data" is not shown for them.
DELETE_CONFIG = f"""[[operations]]
include-method = "DELETE"
warnings = {{ display = {json.dumps(DELETE_WARNINGS)} }}
phases.examples.extra-data-sources.responses = false
phases.coverage.extra-data-sources.responses = false
phases.fuzzing.extra-data-sources.responses = false
"""


# A chat completion names its chatbot by slug in the body, which schemathesis cannot be given
# (only parameters): its generated models all answer 404 `model_not_found`, which is right.
# tests/openai_api covers the answers themselves.
COMPLETIONS_CONFIG = f"""[[operations]]
include-name = "POST /v1/chat/completions/"
warnings = {{ display = {json.dumps(DELETE_WARNINGS)} }}
"""


def inline_table(values: dict[str, str]) -> str:
    """A TOML inline table; JSON strings are valid TOML basic strings."""
    return "{ " + ", ".join(f"{key} = {json.dumps(value)}" for key, value in values.items()) + " }"


def schemathesis_config(known: Seed | None) -> str:
    """The config: for DELETE as above, and the seeded ids, if given, for the other operations.

    Without them generated ids only find 404s, and schemathesis warns that it lacks test data.
    """
    if known is None:
        return "\n".join([DELETE_CONFIG, COMPLETIONS_CONFIG])
    chatbot = {"chatbot_id": known.chatbot_id}
    ids_by_operations = {
        (
            "GET /api/chatbots/{chatbot_id}/",
            "PATCH /api/chatbots/{chatbot_id}/",
            "POST /api/chatbots/{chatbot_id}/knowledge/",
            "GET /api/chatbots/{chatbot_id}/knowledge/",
            "POST /api/chatbots/{chatbot_id}/knowledge/upload/",
            "POST /api/chatbots/{chatbot_id}/knowledge/test/",
            "GET /api/chatbots/{chatbot_id}/conversations/",
            "POST /api/chatbots/{chatbot_id}/identity-secret/",
        ): chatbot,
        (
            "GET /api/chatbots/{chatbot_id}/knowledge/{entry_id}/",
            "PATCH /api/chatbots/{chatbot_id}/knowledge/{entry_id}/",
        ): {**chatbot, "entry_id": known.entry_id},
        ("GET /api/conversations/{conversation_id}/messages/",): {
            "conversation_id": known.conversation_id
        },
        ("GET /api/chatbots/{chatbot_id}/visitors/{visitor_id}/export/",): {
            **chatbot,
            "visitor_id": known.visitor_id,
        },
        (
            "GET /api/workspaces/{workspace_id}/",
            "GET /api/workspaces/{workspace_id}/members/",
            "POST /api/workspaces/{workspace_id}/invitations/",
            "GET /api/workspaces/{workspace_id}/invitations/",
            "GET /api/workspaces/{workspace_id}/api-keys/",
            "POST /api/workspaces/{workspace_id}/api-keys/",
        ): {"workspace_id": known.workspace_id},
        # The account's own membership: it is the only owner, so a demotion answers 409.
        ("PATCH /api/workspaces/{workspace_id}/members/{user_id}/",): {
            "workspace_id": known.workspace_id,
            "user_id": known.user_id,
        },
        ("POST /api/invitations/{token}/accept/",): {"token": known.invitation_token},
        (
            "POST /api/workspaces/{workspace_id}/webhooks/",
            "GET /api/workspaces/{workspace_id}/webhooks/",
        ): {"workspace_id": known.workspace_id},
        (
            "GET /api/workspaces/{workspace_id}/webhooks/{webhook_id}/",
            "PATCH /api/workspaces/{workspace_id}/webhooks/{webhook_id}/",
            "POST /api/workspaces/{workspace_id}/webhooks/{webhook_id}/test/",
            "GET /api/workspaces/{workspace_id}/webhooks/{webhook_id}/deliveries/",
        ): {"workspace_id": known.workspace_id, "webhook_id": known.webhook_id},
        (
            "POST /api/workspaces/{workspace_id}/webhooks/{webhook_id}/deliveries/"
            "{delivery_id}/retry/",
        ): {
            "workspace_id": known.workspace_id,
            "webhook_id": known.webhook_id,
            "delivery_id": known.delivery_id,
        },
    }
    seeded = [
        f"[[operations]]\ninclude-name = {json.dumps(list(names))}\n"
        f"parameters = {inline_table(ids)}\n"
        for names, ids in ids_by_operations.items()
    ]
    return "\n".join([DELETE_CONFIG, COMPLETIONS_CONFIG, *seeded])


async def access_token(base_url: str) -> str:
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            base_url + "/auth/register/",
            json={"email": "schemathesis@example.com", "password": "correct horse battery"},
        )
        body = await response.json()
        assert response.status == 201, body
        token: str = body["access"]
        return token


def run_schemathesis(
    base_url: str, token: str, config: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(config),
            "run",
            base_url + "/api/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "20",
            "--workers",
            "1",
            # Generous: on a busy machine the first knowledge question may wait seconds for
            # the sentence model; speed is the benchmarks' business, answers are this test's.
            "--request-timeout",
            "30",
            "-H",
            f"Authorization: Bearer {token}",
            *extra,
        ],
        capture_output=True,
        text=True,
        # Every route is exercised: the run grows with the API (and a busy machine slows it).
        timeout=900,
        check=False,
    )


@pytest.mark.parametrize(
    ("selection", "known_ids"),
    [
        pytest.param(
            ("--include-path-regex", "^/(auth|healthz|readyz)"), False, id="accounts-and-health"
        ),
        pytest.param(("--phases", "examples,coverage,fuzzing"), True, id="every-route"),
        # The stateful phase chains requests by links: it creates, reads and deletes, carrying
        # ids from one answer to the next request. Known ids from the config would replace the
        # linked ones, and once a chain deleted the seeded chatbot, schemathesis would report
        # "created resource not found" for a resource that was, rightly, gone.
        pytest.param(("--phases", "stateful"), False, id="every-route-stateful"),
    ],
)
async def test_schemathesis_finds_no_failures(
    server: ServerProcess, selection: tuple[str, ...], known_ids: bool, tmp_path: Path
) -> None:
    token = await access_token(server.base_url)
    seeded = await seed(server.base_url, token)
    config = tmp_path / "schemathesis.toml"
    config.write_text(schemathesis_config(seeded if known_ids else None))
    result = await asyncio.to_thread(run_schemathesis, server.base_url, token, config, *selection)
    report = result.stdout[-15000:] + result.stderr[-3000:]
    assert result.returncode == 0, report
    assert "No issues found" in result.stdout, report
    # The error middleware logs every 500 as "unexpected error" (aiohttp's own parser logs a
    # traceback for the NUL byte header schemathesis probes with, and answers it 400).
    assert "unexpected error" not in server.output(), server.output()[-5000:]
