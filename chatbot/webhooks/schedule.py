"""When a failed delivery is tried again: the configured delays, each with some jitter."""

from __future__ import annotations

import random
from collections.abc import Sequence


def retry_delay(
    attempts: int, delays: Sequence[float], jitter: float, rng: random.Random | None = None
) -> float | None:
    """Seconds until the next attempt after `attempts` failed ones; None when none is left.

    The delay after the first failure is `delays[0]`, after the second `delays[1]`, and so on,
    each varied at random by up to `jitter` of itself.
    """
    index = attempts - 1
    if index < 0 or index >= len(delays):
        return None
    spread = (rng or random).uniform(1.0 - jitter, 1.0 + jitter)
    return delays[index] * spread
