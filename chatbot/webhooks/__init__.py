"""Signed webhooks: the outbox the chat writes to, the dispatcher that sends it, the routes."""
