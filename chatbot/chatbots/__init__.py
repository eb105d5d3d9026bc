"""Chatbots: owned per user, looked up by slug (cached) for the widget and the chat."""
