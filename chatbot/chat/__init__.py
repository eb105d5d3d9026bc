"""Realtime chat: the visitor and operator WebSockets, their hub, message store and bot answers."""
