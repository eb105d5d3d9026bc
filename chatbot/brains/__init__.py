"""Bot brains: what answers a visitor (echo, knowledge, OpenAI-compatible), behind one protocol."""

from chatbot.brains.base import Brain, BrainReply, BrainRequest, Turn, Verdict
from chatbot.brains.factory import Brains
from chatbot.brains.schemas import (
    BrainConfig,
    parse_brain_config,
    public_brain_config,
    stored_brain_config,
)

__all__ = [
    "Brain",
    "BrainConfig",
    "BrainReply",
    "BrainRequest",
    "Brains",
    "Turn",
    "Verdict",
    "parse_brain_config",
    "public_brain_config",
    "stored_brain_config",
]
