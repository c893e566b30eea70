"""Retry timing shared by the background jobs (webhook deliveries, the Stripe outbox)."""

from __future__ import annotations

import random


def backoff_seconds(attempts: int, *, base: float, cap: float, rand: float | None = None) -> float:
    """Seconds to wait after the `attempts`-th failed try: base x 2^(attempts-1), within +-20 %
    jitter (so failing work does not retry in lockstep), never above the cap."""
    delay = min(base * 2 ** max(attempts - 1, 0), cap)
    factor = 0.8 + 0.4 * (random.random() if rand is None else rand)  # noqa: S311 - not crypto
    return min(delay * factor, cap)
