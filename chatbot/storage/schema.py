"""The database schema (SQLAlchemy Core tables); Alembic migrations create and evolve it."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
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
from sqlalchemy.engine.default import DefaultExecutionContext

from chatbot.storage.values import VISITOR_ID_LENGTH, random_secret, visitor_id_of

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(36)


def _visitor_id(context: DefaultExecutionContext) -> str:
    """An inserted conversation's visitor id, from its visitor token hash."""
    parameters = context.get_current_parameters()  # type: ignore[no-untyped-call]
    return visitor_id_of(parameters["visitor_token_hash"])


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
    # {"monthly": N | null, "per_conversation": N | null}: tokens an LLM brain may spend.
    Column("token_budget", JSON, nullable=False, server_default=text("'{}'")),
    # Conversations whose last message is older are deleted; null keeps them.
    Column("retention_days", Integer, nullable=True),
    # "off", "optional" or "required": whether visitors prove who they are (chatbots.identity).
    Column("identity_verification", String(16), nullable=False, server_default="off"),
    Column("identity_secret", String(128), nullable=False, default=random_secret),
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
    # Not secret: names the visitor in exports and erasures (`storage.values.visitor_id_of`).
    Column("visitor_id", String(VISITOR_ID_LENGTH), nullable=False, default=_visitor_id),
    Column("status", String(32), nullable=False, default="bot"),
    Column("last_seq", Integer, nullable=False, default=0),
    Column("visitor_data", JSON, nullable=False, default=dict),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("last_message_at", DateTime(timezone=True), nullable=True),
    Column("first_visitor_message_at", DateTime(timezone=True), nullable=True),
    Column("first_operator_message_at", DateTime(timezone=True), nullable=True),
    Column("handed_off", Boolean, nullable=False, default=False),
    # "widget" (the visitor socket) or "api" (the OpenAI-compatible API).
    Column("channel", String(16), nullable=False, server_default="widget"),
    # The site's own id of a visitor who proved it (identity verification); null: anonymous.
    Column("user_id", String(255), nullable=True),
    Column(
        "assignee_id",
        ID,
        ForeignKey("users.id", ondelete="SET NULL"),
        nullable=True,
        index=True,
    ),
    Index("ix_conversations_chatbot_last_message", "chatbot_id", "last_message_at"),
    Index("ix_conversations_chatbot_visitor", "chatbot_id", "visitor_id"),
    Index("ix_conversations_chatbot_user", "chatbot_id", "user_id"),
)

# Conversations erased at their visitor's request: a visitor token that names one (signed, see
# `chat.visitor_tokens`) starts a new conversation instead of storing it again. Ids only.
erased_conversations = Table(
    "erased_conversations",
    metadata,
    Column("id", ID, primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False),
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


def _tokens(name: str) -> Column[int]:
    return Column(name, BigInteger, nullable=False, default=0, server_default="0")


def _usage_chatbot_id() -> Column[str]:
    return Column("chatbot_id", ID, ForeignKey("chatbots.id", ondelete="CASCADE"), primary_key=True)


# Tokens spent by LLM brains, added to atomically once per answer: the count every instance
# shares, and the one the budgets are checked against. Months and days are UTC.
token_usage_months = Table(
    "token_usage_months",
    metadata,
    _usage_chatbot_id(),
    Column("month", String(7), primary_key=True),  # "2026-01"
    _tokens("prompt_tokens"),
    _tokens("completion_tokens"),
    Column("replies", Integer, nullable=False, default=0, server_default="0"),
    Column("estimated_replies", Integer, nullable=False, default=0, server_default="0"),
    # The monthly budget whose reaching was logged, so that it is logged once (not per answer).
    Column("warned_budget", BigInteger, nullable=True),
)

token_usage_days = Table(
    "token_usage_days",
    metadata,
    _usage_chatbot_id(),
    Column("day", Date, primary_key=True),
    _tokens("prompt_tokens"),
    _tokens("completion_tokens"),
    Column("replies", Integer, nullable=False, default=0, server_default="0"),
)

conversation_token_usage = Table(
    "conversation_token_usage",
    metadata,
    Column(
        "conversation_id",
        ID,
        ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    _tokens("prompt_tokens"),
    _tokens("completion_tokens"),
    Column("warned_cap", BigInteger, nullable=True),  # as warned_budget, for the conversation
)


api_keys = Table(
    "api_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "workspace_id",
        ID,
        ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("name", String(100), nullable=False),
    # SHA-256 of the key (hex): the key itself is shown once and never stored.
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("hint", String(16), nullable=False),  # the key's first characters, to tell keys apart
    Column("created_by", ID, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    _created_at(),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
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
