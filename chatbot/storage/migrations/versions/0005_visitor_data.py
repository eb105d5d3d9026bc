"""visitor data: conversations.visitor_id, chatbots.retention_days, erased_conversations

Existing conversations get their visitor id from their visitor token hash, in batches.

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-01 10:00:00
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000
# As `chatbot.storage.values.visitor_id_of` computes it today; a migration does not import
# code that may change after it.
_LABEL = "chatbot visitor id v1:"


def _visitor_id(token_hash: str) -> str:
    return hashlib.sha256((_LABEL + token_hash).encode()).hexdigest()[:32]


def upgrade() -> None:
    op.add_column("chatbots", sa.Column("retention_days", sa.Integer(), nullable=True))
    # NOT NULL from the start, with a placeholder: SQLite cannot make a column NOT NULL later
    # without copying the table, and dropping `conversations` would cascade to its messages.
    op.add_column(
        "conversations",
        sa.Column("visitor_id", sa.String(length=32), nullable=False, server_default=""),
    )
    conversations = sa.table(
        "conversations",
        sa.column("id", sa.String()),
        sa.column("visitor_token_hash", sa.String()),
        sa.column("visitor_id", sa.String()),
    )
    connection = op.get_bind()
    while True:
        rows = connection.execute(
            sa.select(conversations.c.id, conversations.c.visitor_token_hash)
            .where(conversations.c.visitor_id == "")
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        connection.execute(
            sa.update(conversations)
            .where(conversations.c.id == sa.bindparam("row_id"))
            .values(visitor_id=sa.bindparam("new_visitor_id")),
            [
                {"row_id": row.id, "new_visitor_id": _visitor_id(row.visitor_token_hash)}
                for row in rows
            ],
        )
    if connection.dialect.name != "sqlite":
        op.alter_column("conversations", "visitor_id", server_default=None)
    op.create_index(
        "ix_conversations_chatbot_visitor", "conversations", ["chatbot_id", "visitor_id"]
    )
    op.create_table(
        "erased_conversations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erased_conversations")),
    )


def downgrade() -> None:
    op.drop_table("erased_conversations")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): no table copy, no cascade.
    op.drop_index("ix_conversations_chatbot_visitor", table_name="conversations")
    op.drop_column("conversations", "visitor_id")
    op.drop_column("chatbots", "retention_days")
