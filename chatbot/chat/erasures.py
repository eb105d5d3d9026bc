"""The broker message that makes every instance forget erased conversations.

An erasure (or a retention purge) deletes the rows, then publishes this: each instance closes
the visitor sockets of those conversations, stops their bot answers and drops what its
sockets remember of them.
"""

from __future__ import annotations

from collections.abc import Sequence

ERASED_CHANNEL = "erased"


def erased_payload(tenant_id: str, conversation_ids: Sequence[str]) -> bytes:
    """The payload naming the tenant and its erased conversations."""
    return " ".join([tenant_id, *conversation_ids]).encode()


def parse_erased(payload: bytes) -> tuple[str, list[str]] | None:
    """(tenant id, conversation ids) from a payload, or None when it is malformed."""
    parts = payload.decode(errors="replace").split()
    if len(parts) < 2:
        return None
    return parts[0], parts[1:]
