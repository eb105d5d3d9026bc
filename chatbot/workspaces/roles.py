"""Roles and the one table of what each role may do in its workspace."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Role(StrEnum):
    """A member's role in a workspace."""

    OWNER = "owner"
    ADMIN = "admin"
    AGENT = "agent"


class Action(StrEnum):
    """What a request does in a workspace."""

    READ = "read"  # chatbots, knowledge, conversations, messages, members
    OPERATE = "operate"  # work the Inbox: reply, take over, release, assign, close
    MANAGE = "manage"  # change chatbots, knowledge, members, invitations, keys, webhooks


PERMISSIONS: Mapping[Role, frozenset[Action]] = {
    Role.OWNER: frozenset(Action),
    Role.ADMIN: frozenset(Action),
    Role.AGENT: frozenset({Action.READ, Action.OPERATE}),
}


def permits(role: Role, action: Action) -> bool:
    """Whether `role` may do `action`."""
    return action in PERMISSIONS[role]


def parse_role(value: str) -> Role | None:
    """The role named `value`, or None."""
    try:
        return Role(value)
    except ValueError:
        return None
