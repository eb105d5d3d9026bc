"""token budgets and usage: chatbots.token_budget, tokens per chatbot per month and day, and per
conversation

Revision ID: 0006
Revises: 0002
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tokens(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), server_default="0", nullable=False)


def _count(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), server_default="0", nullable=False)


def _chatbot_id(table: str) -> list[Any]:
    return [
        sa.Column("chatbot_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["chatbot_id"],
            ["chatbots.id"],
            name=op.f(f"fk_{table}_chatbot_id_chatbots"),
            ondelete="CASCADE",
        ),
    ]


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite has it too): no copy of the chatbots table, whose rows other
    # tables reference.
    op.add_column(
        "chatbots",
        sa.Column("token_budget", sa.JSON(), server_default=sa.text("'{}'"), nullable=False),
    )
    op.create_table(
        "token_usage_months",
        *_chatbot_id("token_usage_months"),
        sa.Column("month", sa.String(length=7), nullable=False),
        _tokens("prompt_tokens"),
        _tokens("completion_tokens"),
        _count("replies"),
        _count("estimated_replies"),
        sa.Column("warned_budget", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("chatbot_id", "month", name=op.f("pk_token_usage_months")),
    )
    op.create_table(
        "token_usage_days",
        *_chatbot_id("token_usage_days"),
        sa.Column("day", sa.Date(), nullable=False),
        _tokens("prompt_tokens"),
        _tokens("completion_tokens"),
        _count("replies"),
        sa.PrimaryKeyConstraint("chatbot_id", "day", name=op.f("pk_token_usage_days")),
    )
    op.create_table(
        "conversation_token_usage",
        sa.Column("conversation_id", sa.String(length=36), nullable=False),
        _tokens("prompt_tokens"),
        _tokens("completion_tokens"),
        sa.Column("warned_cap", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_token_usage_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_conversation_token_usage")),
    )


def downgrade() -> None:
    op.drop_table("conversation_token_usage")
    op.drop_table("token_usage_days")
    op.drop_table("token_usage_months")
    with op.batch_alter_table("chatbots") as batch_op:
        batch_op.drop_column("token_budget")
