"""The role matrix of the operator socket: owner, admin, agent and non-member against every frame
type. The expected outcome of each (frame, role) comes from one table, EXPECTED; a frame type
the socket accepts but the table does not name fails the test."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from team_support import Team, frame_where, make_team, operator, visitor, visitor_writes

from chatbot.chat.protocol import OPERATOR_FRAMES

from conftest import AppClient, ClientFactory

pytestmark = pytest.mark.both_stacks

ROLES = ("owner", "admin", "agent", "outsider")
Frame = dict[str, Any]


def _same(outcome: str) -> dict[str, str]:
    return dict.fromkeys(ROLES, outcome)


def _members(outcome: str) -> dict[str, str]:
    """Members may; a non-member finds no such conversation."""
    return {**_same(outcome), "outsider": "not_found"}


# Frame type: (the frame, with CONVERSATION and USER filled in; outcome per role).
EXPECTED: dict[str, tuple[Frame, dict[str, str]]] = {
    "message": (
        {"conversation_id": "CONVERSATION", "text": "hi", "client_id": "c1"},
        _members("message"),
    ),
    "takeover": ({"conversation_id": "CONVERSATION"}, _members("conversation")),
    "release": ({"conversation_id": "CONVERSATION"}, _members("conversation")),
    "close": ({"conversation_id": "CONVERSATION"}, _members("conversation")),
    "assign": ({"conversation_id": "CONVERSATION", "user_id": "USER"}, _members("conversation")),
    "typing": ({"conversation_id": "CONVERSATION"}, _members("typing")),
    "resume": ({"conversation_id": "CONVERSATION", "after": 0}, _members("resumed")),
    "ping": ({}, _same("pong")),
    "auth": ({"token": "x"}, _same("invalid_message")),  # already authenticated
}

# What the socket answers for each outcome.
ANSWERS: dict[str, Callable[[Frame], bool]] = {
    "message": lambda f: f["type"] == "message" and f["message"]["role"] == "operator",
    "conversation": lambda f: f["type"] == "conversation",
    "typing": lambda f: f["type"] == "typing" and f["role"] == "operator",
    "resumed": lambda f: f["type"] == "resumed",
    "pong": lambda f: f["type"] == "pong",
    "not_found": lambda f: f["type"] == "error" and f["code"] == "not_found",
    "invalid_message": lambda f: f["type"] == "error" and f["code"] == "invalid_message",
}


@pytest.fixture
async def api(make_client: ClientFactory) -> AppClient:
    return await make_client(brains={"semantic": False}, rate_limits={"enabled": False})


@pytest.fixture
async def team(api: AppClient) -> Team:
    return await make_team(api)


def test_every_operator_frame_type_has_a_row() -> None:
    assert set(EXPECTED) == set(OPERATOR_FRAMES), (
        "add each operator frame type to EXPECTED in this file, with the outcome every role "
        f"must get: missing {sorted(set(OPERATOR_FRAMES) - set(EXPECTED))}"
    )


def _filled(value: Any, conversation_id: str, user_id: str) -> Any:
    return {"CONVERSATION": conversation_id, "USER": user_id}.get(value, value)


async def test_each_role_gets_the_expected_answer_to_every_operator_frame(
    api: AppClient, team: Team
) -> None:
    wrong: list[str] = []
    for kind, (fields, outcomes) in EXPECTED.items():
        for role in ROLES:
            async with visitor(api, team.chatbot["slug"]) as (guest, conversation_id):
                await visitor_writes(guest, "hello")
                frame = {
                    "type": kind,
                    **{
                        key: _filled(value, conversation_id, team.agent.user["id"])
                        for key, value in fields.items()
                    },
                }
                async with operator(api, team.by_role(role)) as ws:
                    await ws.send_json(frame)
                    answer = await frame_where(ws, _answer_to(conversation_id))
                if not ANSWERS[outcomes[role]](answer):
                    wrong.append(f"{role} {kind}: {answer}, expected {outcomes[role]}")
    assert not wrong, "\n".join(wrong)


def _answer_to(conversation_id: str) -> Callable[[Frame], bool]:
    """Matches what the operator's own frame causes (not the visitor's or the bot's doing)."""

    def wanted(f: Frame) -> bool:
        if f["type"] in ("error", "pong", "resumed"):
            return True
        if f["type"] == "message":
            return bool(f["message"]["role"] == "operator")
        if f["type"] == "typing":
            return bool(f["role"] == "operator")
        return f["type"] == "conversation" and f["conversation"]["id"] == conversation_id

    return wanted
