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
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_conversations_chatbot_user"


def upgrade() -> None:
    with op.batch_alter_table("chatbots") as batch_op:
        batch_op.add_column(
            sa.Column(
                "identity_verification", sa.String(length=16), nullable=False, server_default="off"
            )
        )
        batch_op.add_column(sa.Column("identity_secret", sa.String(length=128), nullable=True))
    connection = op.get_bind()
    chatbots = sa.table("chatbots", sa.column("id"), sa.column("identity_secret"))
    for (chatbot_id,) in connection.execute(sa.select(chatbots.c.id)).all():
        connection.execute(
            sa.update(chatbots)
            .where(chatbots.c.id == chatbot_id)
            .values(identity_secret=secrets.token_hex(32))
        )
    with op.batch_alter_table("chatbots") as batch_op:
        batch_op.alter_column(
            "identity_secret", existing_type=sa.String(length=128), nullable=False
        )
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.String(length=255), nullable=True))
    op.create_index(INDEX, "conversations", ["chatbot_id", "user_id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="conversations")
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.drop_column("user_id")
    with op.batch_alter_table("chatbots") as batch_op:
        batch_op.drop_column("identity_secret")
        batch_op.drop_column("identity_verification")
