"""conversations: the channel a conversation came through ("widget" or "api")

Conversations of the OpenAI-compatible API (`/v1/chat/completions`) are stored like the
widget's, so that the Inbox and analytics include them; the channel tells them apart. Every
existing conversation came through the widget.

Revision ID: 0007
Revises: 0002
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.add_column(
            sa.Column("channel", sa.String(16), nullable=False, server_default="widget")
        )


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.drop_column("channel")
