"""The token estimate of `/v1/` usage when no provider counted the tokens."""

from __future__ import annotations

import pytest

from chatbot.openai_api.usage import (
    TOKENS_PER_MESSAGE,
    TOKENS_PER_REPLY,
    estimate_prompt_tokens,
    estimate_tokens,
    estimate_usage,
)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("   ", 0),
        ("hello", 1),
        ("Hello, world!", 4),  # two words and two punctuation marks
        ("internationalization", 4),  # 20 letters: one token per started six
        ("café", 2),  # a character outside ASCII is a token of its own
        ("営業時間", 4),
        ("We open at 9:30.", 7),
    ],
)
def test_estimate_tokens(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


def test_a_prompt_counts_each_message_and_the_reply_start() -> None:
    assert estimate_prompt_tokens([]) == TOKENS_PER_REPLY
    assert estimate_prompt_tokens(["hello", "Hello, world!"]) == (
        TOKENS_PER_REPLY + 2 * TOKENS_PER_MESSAGE + 1 + 4
    )


def test_usage_of_an_answer() -> None:
    usage = estimate_usage(["When are you open?"], "Every day.")
    assert (usage.prompt_tokens, usage.completion_tokens) == (TOKENS_PER_REPLY + 3 + 5, 3)


def test_longer_texts_never_count_fewer_tokens() -> None:
    text = "The basic plan costs ten euros a month, and the team plan thirty."
    counts = [estimate_tokens(text[:end]) for end in range(len(text) + 1)]
    assert counts == sorted(counts)
