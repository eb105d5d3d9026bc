"""visitor identity: chatbots' verification mode and secret, conversations' verified user id

Every chatbot has an identity secret from its creation: the existing ones get a random one here.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-07 18:30:00
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_conversations_chatbot_user"


def upgrade() -> None:
    # Columns are added in place, never in batch mode: on SQLite a batch copies the table and
    # drops the old one, and dropping `chatbots` would cascade to every conversation.
    op.add_column(
        "chatbots",
        sa.Column(
            "identity_verification", sa.String(length=16), nullable=False, server_default="off"
        ),
    )
    # NOT NULL needs a default to be added; every row gets its own secret right below.
    op.add_column(
        "chatbots",
        sa.Column("identity_secret", sa.String(length=128), nullable=False, server_default=""),
    )
    connection = op.get_bind()
    chatbots = sa.table("chatbots", sa.column("id"), sa.column("identity_secret"))
    for (chatbot_id,) in connection.execute(sa.select(chatbots.c.id)).all():
        connection.execute(
            sa.update(chatbots)
            .where(chatbots.c.id == chatbot_id)
            .values(identity_secret=secrets.token_hex(32))
        )
    if connection.dialect.name != "sqlite":  # SQLite cannot drop a default in place
        op.alter_column("chatbots", "identity_secret", server_default=None)
    op.add_column("conversations", sa.Column("user_id", sa.String(length=255), nullable=True))
    op.create_index(INDEX, "conversations", ["chatbot_id", "user_id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="conversations")
    op.drop_column("conversations", "user_id")
    op.drop_column("chatbots", "identity_secret")
    op.drop_column("chatbots", "identity_verification")
