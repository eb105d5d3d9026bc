"""The database schema (SQLAlchemy Core tables); Alembic migrations create and evolve it."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(36)


def _created_at() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False)


users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False, default=""),
    Column("password_hash", String(255), nullable=False),
    # Bumped when a password changes: access tokens carry it, so older ones stop working.
    Column("session_epoch", Integer, nullable=False, default=0, server_default="0"),
    _created_at(),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", ID, primary_key=True),  # the token's jti
    Column("family_id", ID, nullable=False, index=True),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    _created_at(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    Column("replaced_by", ID, nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

workspaces = Table(
    "workspaces",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False),
    _created_at(),
)

workspace_members = Table(
    "workspace_members",
    metadata,
    Column(
        "workspace_id",
        ID,
        ForeignKey("workspaces.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
    Column("role", String(16), nullable=False),  # owner, admin or agent
    _created_at(),
)

workspace_invitations = Table(
    "workspace_invitations",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "workspace_id",
        ID,
        ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("email", String(320), nullable=False),  # only this account may accept it
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("invited_by", ID, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    _created_at(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("accepted_at", DateTime(timezone=True), nullable=True),  # set: used up
    Column("accepted_by", ID, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
)

chatbots = Table(
    "chatbots",
    metadata,
    Column("id", ID, primary_key=True),
    # The tenant. On SQLite NOT NULL is held by triggers (see migration 0003).
    Column(
        "workspace_id",
        ID,
        ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    # Who created it; tenancy is the workspace.
    Column("owner_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("greeting", Text, nullable=False, default=""),
    Column("allowed_origins", JSON, nullable=False, default=list),
    Column("brain", JSON, nullable=False, default=dict),
    Column("theme", JSON, nullable=False, default=dict),
    _created_at(),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

knowledge_entries = Table(
    "knowledge_entries",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "chatbot_id", ID, ForeignKey("chatbots.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("kind", String(16), nullable=False),  # "qa" or "document"
    Column("question", Text, nullable=True),
    Column("answer", Text, nullable=True),
    Column("title", Text, nullable=True),
    Column("content", Text, nullable=True),
    Column("source", String(255), nullable=True),  # uploaded file name, if any
    _created_at(),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

knowledge_passages = Table(
    "knowledge_passages",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "entry_id",
        ID,
        ForeignKey("knowledge_entries.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column(
        "chatbot_id", ID, ForeignKey("chatbots.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("position", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("reply", Text, nullable=False),
    Column("embedding", LargeBinary, nullable=True),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "chatbot_id", ID, ForeignKey("chatbots.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("visitor_token_hash", String(64), nullable=False, unique=True),
    Column("status", String(32), nullable=False, default="bot"),
    Column("last_seq", Integer, nullable=False, default=0),
    Column("visitor_data", JSON, nullable=False, default=dict),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("last_message_at", DateTime(timezone=True), nullable=True),
    Column("first_visitor_message_at", DateTime(timezone=True), nullable=True),
    Column("first_operator_message_at", DateTime(timezone=True), nullable=True),
    Column("handed_off", Boolean, nullable=False, default=False),
    Column(
        "assignee_id",
        ID,
        ForeignKey("users.id", ondelete="SET NULL"),
        nullable=True,
        index=True,
    ),
    Index("ix_conversations_chatbot_last_message", "chatbot_id", "last_message_at"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "conversation_id",
        ID,
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("seq", Integer, nullable=False),
    Column("role", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("client_id", String(128), nullable=True),
    Column("author_id", ID, nullable=True),  # the operator who wrote it, for role "operator"
    _created_at(),
    UniqueConstraint("conversation_id", "seq", name="uq_messages_conversation_seq"),
    # Partial: messages without a client_id (the bot's) need no entry, and write one page less.
    Index(
        "uq_messages_conversation_client_id",
        "conversation_id",
        "client_id",
        unique=True,
        sqlite_where=text("client_id IS NOT NULL"),
        postgresql_where=text("client_id IS NOT NULL"),
    ),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "workspace_id",
        ID,
        ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("url", Text, nullable=False),
    Column("events", JSON, nullable=False, default=list),
    Column("secret", String(100), nullable=False),  # whsec_...: needed in clear to sign
    _created_at(),
    # Set at the first failed attempt after a success (or since creation); cleared by a success.
    Column("failing_since", DateTime(timezone=True), nullable=True),
    Column("disabled_at", DateTime(timezone=True), nullable=True),
    Column("disabled_reason", Text, nullable=True),
)

# The outbox: one row per event and webhook, written in the transaction of the change that
# caused the event, and sent from there by the dispatcher.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "webhook_id", ID, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("event_id", String(64), nullable=False),  # the webhook-id header, the same on retries
    Column("event_type", String(64), nullable=False),
    Column("body", Text, nullable=False),  # the exact JSON sent, the same on retries
    Column("status", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("last_attempt_at", DateTime(timezone=True), nullable=True),
    # When the next attempt is due; NULL once delivered or failed (out of the dispatcher's index).
    Column("next_attempt_at", DateTime(timezone=True), nullable=True, index=True),
    # An instance making an attempt holds the row until then; after a crash it is free again.
    Column("locked_until", DateTime(timezone=True), nullable=True),
    _created_at(),
)
