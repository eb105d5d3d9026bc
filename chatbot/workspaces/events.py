"""The broker message saying that a member's role in a workspace changed or ended.

Dependency-free, so that the chat (which acts on open operator sockets) and the member
actions (which publish it) share the format without importing each other.
"""

from __future__ import annotations

MEMBERSHIP_CHANNEL = "workspace-members"


def membership_changed(workspace_id: str, user_id: str, role: str | None) -> bytes:
    """The payload: `role` is the member's new role, None when they left the workspace."""
    return f"{workspace_id} {user_id} {role or '-'}".encode()


def parse_membership_changed(payload: bytes) -> tuple[str, str, str | None] | None:
    """(workspace id, user id, new role or None) from a payload, or None when malformed."""
    parts = payload.decode(errors="replace").split(" ")
    if len(parts) != 3 or not all(parts):
        return None
    workspace_id, user_id, role = parts
    return workspace_id, user_id, None if role == "-" else role
