"""Token counts for `usage` when no provider counted them: an estimate, close to what GPT
tokenizers give for English text. Pure.

A run of letters or digits counts one token per started 6 characters (most English words are
one token), any other non-space character one token, and a character outside ASCII one token
(CJK text is about one token a character). As in OpenAI's own accounting of chat prompts,
each message adds 3 tokens and the prompt 3 more, for the reply's start.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from chatbot.brains.base import Usage

_PIECES = re.compile(r"[A-Za-z0-9]+|\S")
_WORD_CHARS_PER_TOKEN = 6
TOKENS_PER_MESSAGE = 3
TOKENS_PER_REPLY = 3


def estimate_tokens(text: str) -> int:
    """About how many tokens `text` is."""
    count = 0
    for piece in _PIECES.findall(text):
        if len(piece) > 1:
            count += -(-len(piece) // _WORD_CHARS_PER_TOKEN)
        else:
            count += 1
    return count


def estimate_prompt_tokens(messages: Iterable[str]) -> int:
    """About how many tokens a chat prompt of these message texts is."""
    return TOKENS_PER_REPLY + sum(TOKENS_PER_MESSAGE + estimate_tokens(m) for m in messages)


def estimate_usage(messages: Iterable[str], answer: str) -> Usage:
    """The estimated usage of answering `messages` with `answer`."""
    return Usage(
        prompt_tokens=estimate_prompt_tokens(messages), completion_tokens=estimate_tokens(answer)
    )
