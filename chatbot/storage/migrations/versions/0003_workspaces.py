"""workspaces, their members and invitations; chatbots belong to a workspace; conversations
get an assignee

Every existing account gets its own workspace (role owner) holding the chatbots it created.
`chatbots.owner_id` stays as the chatbot's creator; tenancy is the workspace from now on.

SQLite cannot add NOT NULL to an existing column without copying the table, and copying
`chatbots` would drop it, which cascades to its conversations and knowledge (foreign keys are
on, and cannot be turned off inside the migration's transaction). There the column is added
with its foreign key, and two triggers refuse a NULL instead.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 18:30:00
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=36)
_TRIGGERS = ("chatbots_workspace_required_insert", "chatbots_workspace_required_update")


def _own_workspace_name(name: str, email: str) -> str:
    # The same words as chatbot.workspaces.repository.own_workspace_name, frozen here.
    return f"{name.strip() or email.split('@', 1)[0]}'s workspace"[:200]


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspaces")),
    )
    op.create_table(
        "workspace_members",
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_workspace_members_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_workspace_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "user_id", name=op.f("pk_workspace_members")),
    )
    op.create_index(
        op.f("ix_workspace_members_user_id"), "workspace_members", ["user_id"], unique=False
    )
    op.create_table(
        "workspace_invitations",
        sa.Column("id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_by", ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_workspace_invitations_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"],
            ["users.id"],
            name=op.f("fk_workspace_invitations_invited_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["accepted_by"],
            ["users.id"],
            name=op.f("fk_workspace_invitations_accepted_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspace_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_workspace_invitations_token_hash")),
    )
    op.create_index(
        op.f("ix_workspace_invitations_workspace_id"),
        "workspace_invitations",
        ["workspace_id"],
        unique=False,
    )

    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # ADD COLUMN keeps the rows where they are; SQLite accepts REFERENCES there.
        op.execute(
            "ALTER TABLE chatbots ADD COLUMN workspace_id VARCHAR(36) "
            "REFERENCES workspaces (id) ON DELETE CASCADE"
        )
        op.execute(
            "ALTER TABLE conversations ADD COLUMN assignee_id VARCHAR(36) "
            "REFERENCES users (id) ON DELETE SET NULL"
        )
    else:
        op.add_column("chatbots", sa.Column("workspace_id", ID, nullable=True))
        op.add_column("conversations", sa.Column("assignee_id", ID, nullable=True))
        op.create_foreign_key(
            op.f("fk_conversations_assignee_id_users"),
            "conversations",
            "users",
            ["assignee_id"],
            ["id"],
            ondelete="SET NULL",
        )

    _give_every_account_its_workspace()

    if sqlite:
        for name, event in zip(_TRIGGERS, ("INSERT", "UPDATE OF workspace_id"), strict=True):
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {event} ON chatbots "
                "WHEN NEW.workspace_id IS NULL BEGIN "
                "SELECT RAISE(ABORT, 'NOT NULL constraint failed: chatbots.workspace_id'); END"
            )
    else:
        op.alter_column("chatbots", "workspace_id", existing_type=ID, nullable=False)
        op.create_foreign_key(
            op.f("fk_chatbots_workspace_id_workspaces"),
            "chatbots",
            "workspaces",
            ["workspace_id"],
            ["id"],
            ondelete="CASCADE",
        )
    op.create_index(op.f("ix_chatbots_workspace_id"), "chatbots", ["workspace_id"], unique=False)
    op.create_index(
        op.f("ix_conversations_assignee_id"), "conversations", ["assignee_id"], unique=False
    )


def _give_every_account_its_workspace() -> None:
    bind = op.get_bind()
    users = sa.table(
        "users", sa.column("id"), sa.column("email"), sa.column("name"), sa.column("created_at")
    )
    workspaces = sa.table("workspaces", sa.column("id"), sa.column("name"), sa.column("created_at"))
    members = sa.table(
        "workspace_members",
        sa.column("workspace_id"),
        sa.column("user_id"),
        sa.column("role"),
        sa.column("created_at"),
    )
    chatbots = sa.table("chatbots", sa.column("owner_id"), sa.column("workspace_id"))
    now = datetime.now(UTC)
    accounts = bind.execute(sa.select(users.c.id, users.c.email, users.c.name)).all()
    for account in accounts:
        workspace_id = str(uuid.uuid4())
        bind.execute(
            sa.insert(workspaces).values(
                id=workspace_id,
                name=_own_workspace_name(account.name or "", account.email),
                created_at=now,
            )
        )
        bind.execute(
            sa.insert(members).values(
                workspace_id=workspace_id, user_id=account.id, role="owner", created_at=now
            )
        )
        bind.execute(
            sa.update(chatbots)
            .where(chatbots.c.owner_id == account.id)
            .values(workspace_id=workspace_id)
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_conversations_assignee_id"), table_name="conversations")
    op.drop_index(op.f("ix_chatbots_workspace_id"), table_name="chatbots")
    if op.get_bind().dialect.name == "sqlite":
        for name in _TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        # SQLite (3.35+) drops a column that no index or constraint of the table names.
        op.execute("ALTER TABLE conversations DROP COLUMN assignee_id")
        op.execute("ALTER TABLE chatbots DROP COLUMN workspace_id")
    else:
        op.drop_constraint(
            op.f("fk_chatbots_workspace_id_workspaces"), "chatbots", type_="foreignkey"
        )
        op.drop_constraint(
            op.f("fk_conversations_assignee_id_users"), "conversations", type_="foreignkey"
        )
        op.drop_column("chatbots", "workspace_id")
        op.drop_column("conversations", "assignee_id")
    op.drop_index(op.f("ix_workspace_invitations_workspace_id"), table_name="workspace_invitations")
    op.drop_table("workspace_invitations")
    op.drop_index(op.f("ix_workspace_members_user_id"), table_name="workspace_members")
    op.drop_table("workspace_members")
    op.drop_table("workspaces")
