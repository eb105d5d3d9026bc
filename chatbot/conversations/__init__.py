"""Conversations, REST read side: the inbox list and a conversation's messages."""
