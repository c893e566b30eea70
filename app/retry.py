"""Retry timing shared by the background jobs: how long failed work waits, and when it stops."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Retries:
    """A job's retry rules: waits doubling from `base` seconds up to `cap`, and how many
    attempts in all before its work is given up (None: never)."""

    base: float
    cap: float
    max_attempts: int | None = None

    def backoff_seconds(self, attempts: int, *, rand: float | None = None) -> float:
        """Seconds to wait after the `attempts`-th failed try: base x 2^(attempts-1), within
        +-20 % jitter (so failing work does not retry in lockstep), never above the cap."""
        delay = min(self.base * 2 ** max(attempts - 1, 0), self.cap)
        factor = 0.8 + 0.4 * (random.random() if rand is None else rand)  # noqa: S311 - not crypto
        return min(delay * factor, self.cap)

    def spent(self, attempts: int) -> bool:
        """Whether `attempts` tries were the last allowed."""
        return self.max_attempts is not None and attempts >= self.max_attempts
