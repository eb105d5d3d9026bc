"""messages: client_id unique per conversation through a partial index (non-null ids only)

Messages without a client_id (the bot's) no longer get an entry in this index: one index page
less to write for each of them, and the rule is unchanged (NULLs never collided).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "uq_messages_conversation_client_id"
COLUMNS = ["conversation_id", "client_id"]
WITH_CLIENT_ID = sa.text("client_id IS NOT NULL")


def upgrade() -> None:
    # SQLite cannot drop a table constraint: batch mode copies the table without it.
    with op.batch_alter_table("messages", recreate="auto") as batch_op:
        batch_op.drop_constraint(NAME, type_="unique")
    op.create_index(
        NAME,
        "messages",
        COLUMNS,
        unique=True,
        sqlite_where=WITH_CLIENT_ID,
        postgresql_where=WITH_CLIENT_ID,
    )


def downgrade() -> None:
    op.drop_index(NAME, table_name="messages")
    with op.batch_alter_table("messages", recreate="auto") as batch_op:
        batch_op.create_unique_constraint(NAME, COLUMNS)
