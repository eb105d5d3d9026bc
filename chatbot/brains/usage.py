"""Tokens an answer cost: as the provider reports them, or estimated when it does not. Pure.

The estimate is one token per 4 bytes of UTF-8 (OpenAI's rule of thumb of 4 characters a
token for English; 2-byte scripts count about a token per 2 characters, CJK about 3 per 4),
plus 4 tokens for each chat message and 3 to prime the answer, as OpenAI counts them. It
needs no tokenizer and errs on the high side for most languages, which suits a budget.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

TOKENS_PER_MESSAGE = 4
TOKENS_TO_PRIME_ANSWER = 3
BYTES_PER_TOKEN = 4
# A figure past this is not a token count: the provider's usage is ignored and estimated.
MAX_REPORTED_TOKENS = 100_000_000


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """The tokens of one answer. `estimated`: counted here, not reported by the provider.

    `provisional`: only the prompt, announced before the answer streams; a reply that stops
    before the brain's final count adds an estimate of what it streamed (`BrainReply.usage`).
    """

    prompt_tokens: int
    completion_tokens: int
    estimated: bool = False
    provisional: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def with_completion(self, text: str) -> TokenUsage:
        """The prompt's count with an estimate of `text` as the completion: a final estimate."""
        return TokenUsage(self.prompt_tokens, estimate_tokens(text), estimated=True)

    def as_json(self) -> dict[str, int]:
        """OpenAI's `usage` object."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


def estimate_tokens(text: str) -> int:
    """About how many tokens `text` is (see the module's docstring)."""
    return math.ceil(len(text.encode("utf-8", "replace")) / BYTES_PER_TOKEN)


def estimate_prompt(messages: Iterable[Mapping[str, str]]) -> TokenUsage:
    """The provisional usage of a request with these chat messages."""
    tokens = TOKENS_TO_PRIME_ANSWER + sum(
        TOKENS_PER_MESSAGE + estimate_tokens(message.get("content", "")) for message in messages
    )
    return TokenUsage(tokens, 0, estimated=True, provisional=True)


def reported_usage(value: Any) -> TokenUsage | None:
    """The provider's `usage` object as a TokenUsage; None when absent or not a usage."""
    if not isinstance(value, Mapping):
        return None
    prompt = value.get("prompt_tokens")
    completion = value.get("completion_tokens")
    counts = (prompt, completion)
    if not all(type(count) is int and 0 <= count <= MAX_REPORTED_TOKENS for count in counts):
        return None
    return TokenUsage(prompt, completion)  # type: ignore[arg-type]
