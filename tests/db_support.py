"""Rows written straight to the tables, with the columns the chat feature maintains.

Only for what the sockets cannot make: conversations dated in the past (the analytics tests).
Everything else makes its conversations over the real sockets (`visitor_support`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import column, insert, table
from sqlalchemy.ext.asyncio import AsyncEngine

from chatbot.storage import schema
from chatbot.storage.schema import conversations, messages
from chatbot.storage.values import new_id

Turn = tuple[str, str, datetime]  # (role, text, when)


# The chatbots and conversations tables as the first revisions made them (0001 to 0002): a test
# of a later migration writes its "before" rows through these, naming only the columns they had.
FIRST_CHATBOTS = table(
    "chatbots",
    *(
        column(name, schema.chatbots.c[name].type)
        for name in (
            "id",
            "owner_id",
            "slug",
            "name",
            "greeting",
            "allowed_origins",
            "brain",
            "theme",
            "created_at",
            "updated_at",
        )
    ),
)
FIRST_CONVERSATIONS = table(
    "conversations",
    *(
        column(name, schema.conversations.c[name].type)
        for name in (
            "id",
            "chatbot_id",
            "visitor_token_hash",
            "status",
            "last_seq",
            "visitor_data",
            "started_at",
            "handed_off",
        )
    ),
)


async def insert_conversation(
    engine: AsyncEngine,
    chatbot_id: str,
    turns: Sequence[Turn],
    *,
    status: str = "bot",
    started_at: datetime | None = None,
) -> str:
    """A conversation of these messages (seq 1, 2, ...; visitors' with client ids c1, c2, ...).

    It starts at `started_at`, else at its first message, else on 2026-01-01.
    """
    conversation_id = new_id()
    first_visitor = next((when for role, _, when in turns if role == "visitor"), None)
    first_operator = next((when for role, _, when in turns if role == "operator"), None)
    started = started_at or (turns[0][2] if turns else datetime(2026, 1, 1, tzinfo=UTC))
    async with engine.begin() as connection:
        await connection.execute(
            insert(conversations).values(
                id=conversation_id,
                chatbot_id=chatbot_id,
                visitor_token_hash=uuid.uuid4().hex,
                status=status,
                last_seq=len(turns),
                visitor_data={},
                started_at=started,
                last_message_at=turns[-1][2] if turns else None,
                first_visitor_message_at=first_visitor,
                first_operator_message_at=first_operator,
                handed_off=status != "bot" or first_operator is not None,
            )
        )
        for seq, (role, text, when) in enumerate(turns, start=1):
            await connection.execute(
                insert(messages).values(
                    id=new_id(),
                    conversation_id=conversation_id,
                    seq=seq,
                    role=role,
                    text=text,
                    client_id=f"c{seq}" if role == "visitor" else None,
                    created_at=when,
                )
            )
    return conversation_id
