"""The broker message that ends an account's earlier sessions on every instance.

Dependency-free, so that the chat hub (which closes the sockets) and the account actions
(which publish it) share the format without importing each other.
"""

from __future__ import annotations

SESSIONS_CHANNEL = "sessions"


def session_ended(user_id: str, epoch: int) -> bytes:
    """The payload saying that the account's sessions before `epoch` have ended."""
    return b"%s %d" % (user_id.encode(), epoch)


def parse_session_ended(payload: bytes) -> tuple[str, int] | None:
    """(user id, new epoch) from a payload, or None when it is malformed."""
    user_id, _, epoch = payload.partition(b" ")
    if not user_id or not epoch.isdigit():
        return None
    return user_id.decode(errors="replace"), int(epoch)
