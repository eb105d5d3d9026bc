"""The chat's shared words: who wrote a message, a conversation's status, where it came from.

The standard library only: the SQLite writer process imports it without the server's packages.
"""

from __future__ import annotations

from typing import Literal, get_args

# Who wrote a message: the site's visitor, the chatbot's brain, or a member of the workspace.
Role = Literal["visitor", "bot", "operator"]
ROLES: tuple[Role, ...] = get_args(Role)

# Who answers a conversation: the bot, nobody yet (handed off), a member; or nobody any more.
Status = Literal["bot", "waiting_for_human", "human", "closed"]
STATUSES: tuple[Status, ...] = get_args(Status)

# Where a conversation came from: the widget's socket, or the OpenAI-compatible API.
Channel = Literal["widget", "api"]
